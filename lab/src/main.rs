//! `impasto-lab`: the model-building and measuring tools that are not part of the product.

mod bench;
mod compare;
mod film;
mod fit;
mod profile;

use impasto_lab::ttq;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use impasto::{Error, Result};

#[derive(Parser)]
#[command(name = "impasto-lab", about = "Impasto's measuring tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Time iterations (forward, losses, backward to the image, Adam step) and write JSON.
    Bench(bench::BenchArgs),
    /// Where one iteration's time goes: each layer's convolutions, ReLUs, poolings and Gram
    /// matrices, forward and backward, beside the whole iteration. Writes JSON.
    Profile(profile::ProfileArgs),
    /// Build the distilled model from the teacher: factorised PCA initialisation, then
    /// fine-tuning (docs/distilled-vgg.md).
    Distill(fit::DistillArgs),
    /// Build a student of plain, narrower convolutions from the teacher in closed form: channel
    /// pruning and least squares given the student's own inputs (lab/src/prune.rs).
    Prune(fit::PruneArgs),
    /// Stylize with the teacher and each student, judge every result with the teacher and the
    /// neutral judge, and write the results and a side-by-side image.
    Compare(compare::CompareArgs),
    /// A film shot with the temporal term against independent frames: temporal error, judged
    /// quality and time (JSON).
    Film(film::FilmArgs),
    /// Time to quality: how long each recipe takes to paint as well as the CS20 recipe, judged by
    /// the neutral judge. Writes JSON.
    Ttq {
        /// Content and style pairs, `CONTENT:STYLE`, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        pairs: Vec<String>,
        /// Final long sides.
        #[arg(long, value_delimiter = ',', default_values_t = [256, 384])]
        sizes: Vec<u32>,
        /// Recipes beside the CS20 reference (which always runs first).
        #[arg(long, value_delimiter = ',', default_values_t = ttq::RECIPES.iter().skip(1).map(|s| s.to_string()))]
        recipes: Vec<String>,
        /// A snapshot every K iterations (and at each stage's end).
        #[arg(long, default_value_t = 10)]
        every: u32,
        /// Compute device.
        #[arg(long, value_enum, default_value_t = Backend::Cpu)]
        backend: Backend,
        /// JSON output file.
        #[arg(long, default_value = "ttq.json")]
        out: PathBuf,
        /// Also write each run's final painting here, as PNG (CONTENT+STYLE-SIZE-RECIPE.png).
        #[arg(long)]
        images: Option<PathBuf>,
        /// An earlier run's JSON: CS20 is taken from it where it has the pair (by the files'
        /// names), size and backend, not painted again (for choosing among candidates on the
        /// machine it ran on; the time ratios are then not side by side).
        #[arg(long)]
        reference: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Backend {
    /// burn-flex on the CPU.
    Cpu,
    /// burn-wgpu (Vulkan; lavapipe without a GPU).
    Wgpu,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line, as the product's CLI does: clap's message up to its usage block.
            let text = e.render().to_string();
            let lines: Vec<&str> = text.lines().map(str::trim).take_while(|l| !l.starts_with("Usage:")).filter(|l| !l.is_empty() && !l.starts_with("tip:")).collect();
            eprintln!("impasto-lab: {}", lines.join(" ").trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("impasto-lab: {}", impasto::error::one_line(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Bench(args) => bench::bench_cmd(args),
        Command::Distill(args) => fit::distill_cmd(args),
        Command::Prune(args) => fit::prune_cmd(args),
        Command::Compare(args) => compare::compare_cmd(args),
        Command::Film(args) => film::film_cmd(args),
        Command::Profile(args) => profile::profile_cmd(args),
        Command::Ttq { pairs, sizes, recipes, every, backend, out, images, reference } => {
            let pairs = pairs
                .iter()
                .map(|p| {
                    p.split_once(':')
                        .map(|(c, s)| (PathBuf::from(c), PathBuf::from(s)))
                        .ok_or_else(|| Error::InvalidConfig(format!("a pair is CONTENT:STYLE, not {p:?}")))
                })
                .collect::<Result<Vec<_>>>()?;
            let recipes = recipes
                .iter()
                .map(|r| {
                    ttq::recipe(r).ok_or_else(|| {
                        Error::InvalidConfig(format!(
                            "no recipe {r:?}; the recipes are {} (product ones take overrides: product-teacher@content=300+tol=1e-3)",
                            ttq::RECIPES.join(", ")
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            if every == 0 {
                return Err(Error::InvalidConfig("--every must be at least 1".into()));
            }
            let (device, name) = match backend {
                Backend::Cpu => (impasto::device::cpu(), "cpu"),
                Backend::Wgpu => (impasto::device::wgpu()?, "wgpu"),
            };
            // Written after every point, so a long run's results so far are never lost.
            let mut save = |points: &[ttq::Point]| -> Result<()> {
                let json = serde_json::to_string_pretty(points).map_err(|e| Error::Encode(e.to_string()))?;
                std::fs::write(&out, json + "\n").map_err(|e| Error::io(&out, e))
            };
            if let Some(dir) = &images {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            let stored: Vec<ttq::Point> = match &reference {
                Some(path) => {
                    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                    serde_json::from_str(&text).map_err(|e| Error::InvalidConfig(format!("{} is not a ttq results file: {e}", path.display())))?
                }
                None => Vec::new(),
            };
            ttq::bench(&pairs, &sizes, &recipes, every, &device, name, images.as_deref(), &stored, &mut |m| eprintln!("impasto-lab: {m}"), &mut save)?;
            println!("{}", out.display());
            Ok(())
        }
    }
}
