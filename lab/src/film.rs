//! `impasto-lab film`: a shot painted with the temporal term against the same frames painted
//! independently (temporal weight 0, Come Swim's way), on real footage: Ruder et al.'s temporal
//! error between consecutive painted frames, each frame's neutral-judged style and content, and
//! the wall time. Writes JSON.

use std::path::{Path, PathBuf};

use impasto::device::cpu;
use impasto::error::{Error, Result};
use impasto::film::{Frame, Shot, temporal_error};
use impasto::image_io::{Decoded, Limits};
use impasto::models::{self, ModelKind};
use impasto::multiscale::{DEFAULT_STYLE_SCALE, SMALLEST_STAGE, SizeRequest};
use impasto::run::{RunSpec, Site};
use impasto::stylize::Preset;
use serde::Serialize;

/// The command's options.
#[derive(clap::Args, Debug)]
pub struct FilmArgs {
    /// Folders of frames (PNG or JPEG, in file-name order), one clip each.
    #[arg(long, value_delimiter = ',', required = true)]
    pub clips: Vec<PathBuf>,
    /// The style painting.
    #[arg(long)]
    pub style: PathBuf,
    /// The painted frames' long side.
    #[arg(long, default_value_t = 192)]
    pub size: u32,
    /// At most this many frames of each clip, from its first.
    #[arg(long, default_value_t = 12)]
    pub frames: usize,
    /// Temporal weights; 0 is the independent frames every other is compared with.
    #[arg(long, value_delimiter = ',', default_values_t = [0.0, impasto::film::DEFAULT_TEMPORAL_WEIGHT])]
    pub weights: Vec<f32>,
    /// Which network paints (the product's `auto`: the default ladder, VGG16 finishing).
    #[arg(long, value_enum, default_value_t = impasto::models::ModelChoice::Auto)]
    pub model: impasto::models::ModelChoice,
    /// JSON output file.
    #[arg(long, default_value = "film.json")]
    pub out: PathBuf,
    /// Also write every painted frame here (CLIP-WEIGHT/NNNNN.png).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Paint every frame after the first with this many iterations (the product: its finishing
    /// rule), to see what a later frame's early stop leaves of the carried painting.
    #[arg(long)]
    pub later_iterations: Option<u32>,
}

/// One clip painted with one temporal weight.
#[derive(Serialize)]
pub struct Point {
    clip: String,
    style: String,
    size: u32,
    temporal_weight: f32,
    frames: usize,
    /// Wall time of the whole shot, painting only (frames decoded, painted, read back).
    total_ms: f64,
    iterations: Vec<u32>,
    /// Ruder et al.'s temporal error between each painted frame and the one before (frames 2…).
    temporal_error: Vec<f32>,
    /// The share of each frame's pixels whose motion is known (where the error is measured).
    known: Vec<f32>,
    /// Each frame's neutral-judged content and style losses.
    content: Vec<f32>,
    style_loss: Vec<f32>,
    mean_temporal_error: f32,
    mean_content: f32,
    mean_style: f32,
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len().max(1) as f32
}

fn decode(path: &Path, what: &str) -> Result<Decoded> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    impasto::image_io::decode(&bytes, &format!("{what} ({})", path.display()), Limits::default())
}

pub fn film_cmd(a: FilmArgs) -> Result<()> {
    let device = cpu();
    let teacher = models::load(ModelKind::Teacher, &device)?;
    let judge = impasto::judge::load(&device)?;
    let style = decode(&a.style, "the style image")?;
    let mut points: Vec<Point> = Vec::new();
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    for clip in &a.clips {
        let mut files = impasto::image_io::frame_files(clip)?;
        files.truncate(a.frames);
        let frames: Vec<Decoded> = files.iter().map(|f| decode(f, "a frame")).collect::<Result<_>>()?;
        let Some(first) = frames.first() else {
            return Err(Error::InvalidConfig(format!("{}: no frames", clip.display())));
        };
        // The product's run for the default preset at this size (as `impasto film --size N`).
        let (config, stopping) = Preset::DEFAULT.config();
        let spec = RunSpec {
            config,
            stopping,
            sizes: SizeRequest { size: a.size, coarse_to_fine: true, largest: false, smallest_stage: SMALLEST_STAGE },
            style_scale: DEFAULT_STYLE_SCALE,
            model: a.model,
            preset: Some(Preset::DEFAULT),
            ladder: impasto::ladder::TEACHER_LADDER,
        };
        let mut load = |kind| models::load(kind, &device);
        let mut site = Site { device: device.clone(), cap: a.size, budget: None, finish_memory: None, load: &mut load, can_wait: false };
        let (base, _) = Shot::new(&spec, vec![(style.clone(), 1.0)], first, &mut site, 0.0)?;
        for &weight in &a.weights {
            let shot = Shot { temporal_weight: weight, ..base.clone() };
            let later = match a.later_iterations {
                Some(n) => Shot { stopping: impasto::stopping::Stopping::Fixed(n), ..shot.clone() },
                None => shot.clone(),
            };
            let t0 = impasto::clock::now_ms();
            let mut painted: Vec<Frame> = Vec::new();
            let mut iterations = Vec::new();
            for (k, f) in frames.iter().enumerate() {
                let painter = if k == 0 { &shot } else { &later };
                let (frame, cost) = pollster::block_on(painter.paint(f.clone(), painted.last(), &mut |_| {}))?;
                eprintln!("impasto-lab: {} λ {weight}: frame {}/{}: {} iterations", name(clip), k + 1, frames.len(), cost.iterations);
                iterations.push(cost.iterations);
                painted.push(frame);
            }
            let total_ms = impasto::clock::now_ms() - t0;
            let (mut errors, mut known, mut content, mut style_loss) = (vec![], vec![], vec![], vec![]);
            for pair in painted.windows(2) {
                let (e, k) = pollster::block_on(temporal_error(&device, &pair[0].content, &pair[1].content, &pair[0].painting, &pair[1].painting))?;
                errors.push(e);
                known.push(k);
            }
            for (f, p) in frames.iter().zip(&painted) {
                let (w, h) = (p.painting.width, p.painting.height);
                let c = f.to_size(w, h, "a frame")?;
                let s = style.to_size(w, h, "the style image")?;
                let j = pollster::block_on(impasto::judge::evaluate(&teacher, &judge, &device, &c, &s, &p.painting))?;
                content.push(j.losses.content);
                style_loss.push(j.losses.style);
            }
            if let Some(dir) = &a.images {
                let dir = dir.join(format!("{}-{weight}", name(clip)));
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                for (k, p) in painted.iter().enumerate() {
                    let path = dir.join(format!("{:05}.png", k + 1));
                    std::fs::write(&path, impasto::image_io::encode_png(&p.painting)?).map_err(|e| Error::io(&path, e))?;
                }
            }
            let point = Point {
                clip: name(clip),
                style: name(&a.style),
                size: a.size,
                temporal_weight: weight,
                frames: frames.len(),
                total_ms,
                mean_temporal_error: mean(&errors),
                mean_content: mean(&content),
                mean_style: mean(&style_loss),
                iterations,
                temporal_error: errors,
                known,
                content,
                style_loss,
            };
            eprintln!(
                "impasto-lab: {} λ {weight}: {:.1} s, temporal error {:.2}, content {:.4e}, style {:.4e}",
                point.clip,
                total_ms / 1000.0,
                point.mean_temporal_error,
                point.mean_content,
                point.mean_style
            );
            points.push(point);
            // Written after every point, so a long run's results so far are never lost.
            let json = serde_json::to_string_pretty(&points).map_err(|e| Error::Encode(e.to_string()))?;
            std::fs::write(&a.out, json + "\n").map_err(|e| Error::io(&a.out, e))?;
        }
    }
    println!("{}", a.out.display());
    Ok(())
}
