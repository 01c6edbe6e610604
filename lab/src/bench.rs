//! `impasto-lab bench`: milliseconds per iteration (forward, losses, backward to the image, Adam
//! step) for each backend, model, convolution route and size, each point in its own process.

use std::path::PathBuf;

use clap::Parser;
use impasto::cli::{BackendArg, ConvArg, arg_name, pick_device};
use impasto::image_io::Image;
use impasto::models::{self, ModelKind};
use impasto::{Config, Error, Result, Stylizer};
use serde::Serialize;

#[derive(Parser, Debug)]
pub struct BenchArgs {
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
    #[arg(long, value_delimiter = ',', value_enum, default_values_t = [ModelKind::Distilled, ModelKind::Teacher])]
    models: Vec<ModelKind>,
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
pub(crate) fn pattern(size: u32, phase: f32) -> Image {
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

/// Run `impasto-lab bench`.
pub fn bench_cmd(a: BenchArgs) -> Result<()> {
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
            for &kind in &a.models {
                for &c in &a.convs {
                    let model = c.apply(models::load(kind, &device)?);
                    for &size in &a.sizes {
                        let (content, style) = (pattern(size, 0.0), pattern(size, 1.3));
                        let mut s = Stylizer::new(Config::default(), &content, &style, model.clone(), device.clone())?;
                        pollster::block_on(s.step(1))?;
                        let before = s.iteration();
                        let t0 = impasto::clock::now_ms();
                        pollster::block_on(s.step(a.iterations))?;
                        // The loss readback in every step synchronises with the device: the time is real.
                        let ms = (impasto::clock::now_ms() - t0) / (s.iteration() - before) as f64;
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

