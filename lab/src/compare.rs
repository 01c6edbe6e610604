//! `impasto-lab compare`: stylize with the teacher and the students, judge each result with the
//! teacher and with the neutral judge (impasto::judge), and write the results side by side.

use std::path::{Path, PathBuf};

use clap::Parser;
use impasto::cli::{BackendArg, decode_file, pick_device, write_png};
use impasto::error::Input;
use impasto::image_io::{self, Image};
use impasto::models::{self, ModelKind};
use impasto::{Config, Error, Result, Stylizer, stylize};
use serde::Serialize;

#[derive(Parser, Debug)]
pub struct CompareArgs {
    /// The content photo.
    content: PathBuf,
    /// The style painting.
    style: PathBuf,
    /// Working size (long side).
    #[arg(long, default_value_t = 384)]
    size: u32,
    /// Iterations (CS20 settings otherwise, seed 0).
    #[arg(long, default_value_t = 300)]
    iterations: u32,
    /// Directory for NAME-teacher.png, NAME-distilled.png and NAME-side.png.
    #[arg(long, default_value = "out/compare")]
    out_dir: PathBuf,
    /// NAME (default: CONTENT's and STYLE's file stems).
    #[arg(long)]
    name: Option<String>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// Student weight files to judge against the teacher (repeatable; default: the bundled
    /// distilled model). Each is written as NAME-STEM.png.
    #[arg(long = "student")]
    students: Vec<PathBuf>,
}

#[derive(Serialize)]
struct CompareSide {
    model: String,
    gmacs_512: f64,
    /// Judged by the teacher.
    #[serde(flatten)]
    losses: stylize::Evaluation,
    /// Judged by the neutral judge (torchvision's VGG16).
    neutral: stylize::Evaluation,
    ms_per_iteration: f64,
}

/// Run `impasto-lab compare`.
pub fn compare_cmd(a: CompareArgs) -> Result<()> {
    let content_d = decode_file(&a.content, "the content image")?;
    let style_d = decode_file(&a.style, "the style image")?;
    let content = content_d.to_working(a.size, "the content image at this size")?;
    let style = image_io::working_style(&style_d, &content, 1.0, Input::Style(0))?;
    let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = a.name.clone().unwrap_or_else(|| format!("{}_{}", stem(&a.content), stem(&a.style)));
    std::fs::create_dir_all(&a.out_dir).map_err(|e| Error::io(&a.out_dir, e))?;
    let (device, backend) = pick_device(a.backend)?;
    let teacher = models::load(ModelKind::Teacher, &device)?;
    let judge = impasto::judge::load(&device)?;
    let neutral_bench = pollster::block_on(impasto::judge::Bench::new(&teacher, &judge, &device, &content, &style))?;
    // The teacher first, then each student: (label, model).
    let mut runs = vec![(ModelKind::Teacher.name().to_string(), teacher.clone())];
    if a.students.is_empty() {
        runs.push((ModelKind::Distilled.name().to_string(), models::load(ModelKind::Distilled, &device)?));
    }
    for path in &a.students {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        runs.push((stem(path), impasto::vgg::Vgg::from_bytes(bytes, &device)?));
    }
    let mut results = Vec::new();
    for (label, model) in runs {
        let gmacs_512 = model.macs(512, 512) as f64 / 1e9;
        let mut s = Stylizer::new(Config::default(), &content, &style, model, device.clone())?;
        let t0 = impasto::clock::now_ms();
        pollster::block_on(s.step(a.iterations))?;
        let ms = (impasto::clock::now_ms() - t0) / a.iterations.max(1) as f64;
        let out = pollster::block_on(s.image())?;
        // Judge the image as saved (8 bits per channel), like `impasto eval` of the PNG.
        let out = Image::from_planar(out.width, out.height, out.pixels.iter().map(|v| v.round().clamp(0.0, 255.0)).collect())?;
        write_png(&a.out_dir.join(format!("{name}-{label}.png")), &out)?;
        let losses = pollster::block_on(stylize::evaluate(&teacher, &device, &content, &style, &out))?;
        let neutral = pollster::block_on(neutral_bench.judge(&judge, &device, &out))?.losses;
        eprintln!(
            "impasto-lab: {name} {label}: teacher-judged content {:.4e} style {:.4e}; neutral content {:.4e} style {:.4e} ({ms:.1} ms/iteration on {})",
            losses.content,
            losses.style,
            neutral.content,
            neutral.style,
            backend.name()
        );
        results.push((out, CompareSide { model: label, gmacs_512, losses, neutral, ms_per_iteration: ms }));
    }
    let mut panels: Vec<&Image> = vec![&content, &style];
    panels.extend(results.iter().map(|(img, _)| img));
    let side = image_io::side_by_side(&panels, 8)?;
    write_png(&a.out_dir.join(format!("{name}-side.png")), &side)?;
    let t = &results[0].1;
    let students: Vec<serde_json::Value> = results[1..]
        .iter()
        .map(|(_, d)| {
            serde_json::json!({
                "result": d,
                "style_ratio": d.losses.style / t.losses.style,
                "content_ratio": d.losses.content / t.losses.content,
                "neutral_style_ratio": d.neutral.style / t.neutral.style,
                "neutral_content_ratio": d.neutral.content / t.neutral.content,
            })
        })
        .collect();
    let report = serde_json::json!({
        "name": name,
        "width": content.width,
        "height": content.height,
        "iterations": a.iterations,
        "backend": backend.name(),
        "teacher": t,
        "students": students,
    });
    println!("{report}");
    Ok(())
}

