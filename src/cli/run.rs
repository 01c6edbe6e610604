//! A run's settings and models from its command-line options: what `stylize` and `film` share.

use std::path::PathBuf;

use super::{MAX_SIDE, RunArgs, arg_name, decode_file};
use crate::error::{Error, Result};
use crate::image_io;
use crate::models::{self, ModelKind};
use crate::multiscale::{SizeRequest, TEACHER_LADDER};
use crate::run::{RunSpec, Site};
use crate::settings::{PictureSetting, check_side};
use crate::stylize::Config;
use crate::vgg::Vgg;

/// The memory this machine has free (Linux: `MemAvailable` in /proc/meminfo), if known.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// What a run's settings come to, before any model is loaded: checked, every image decoded.
pub(super) struct Settings {
    pub(super) spec: RunSpec,
    pub(super) styles: Vec<(image_io::Decoded, f32)>,
}

/// A run's settings from its options and images (`content`: the photo, or a shot's first frame).
pub(super) fn settings(a: &RunArgs, content: &image_io::Decoded, style: &[PathBuf]) -> Result<Settings> {
    let o = &a.settings;
    o.check_size(MAX_SIDE, "--size")?;
    let config = Config { tile: a.tile, ..o.config() };
    let weights = match a.style_weights.len() {
        0 => vec![1.0; style.len()],
        n if n == style.len() => a.style_weights.clone(),
        n => {
            return Err(Error::InvalidConfig(format!("--style-weights has {n} values for {} style images", style.len())));
        }
    };
    let sizes = match a.max_size {
        Some(n) => {
            check_side(n, MAX_SIDE, "--max-size")?;
            SizeRequest { size: n, coarse_to_fine: true, largest: false, smallest_stage: crate::multiscale::SMALLEST_STAGE }
        }
        // Coarse to fine where the preset is, as the page's Size (its "High resolution" field
        // says one size): a size asked for is painted by the same recipe as the default one.
        None => SizeRequest {
            size: o.size(),
            coarse_to_fine: !a.one_size && o.base().coarse_to_fine(),
            largest: false,
            smallest_stage: crate::multiscale::SMALLEST_STAGE,
        },
    };
    // A setting of the picture named on the command line is the preset's changed by hand (no
    // preset): it holds at every size, e.g. --optimizer, and the teacher's ladder does not apply.
    let by_hand = PictureSetting::ALL.into_iter().any(|s| o.gives(s));
    let spec = RunSpec {
        config,
        stopping: o.stopping(),
        sizes,
        style_scale: o.style_scale,
        model: o.model,
        preset: o.preset.filter(|_| !by_hand),
        ladder: TEACHER_LADDER,
    };
    spec.check()?;
    let style_d: Vec<image_io::Decoded> = style.iter().map(|p| decode_file(p, "the style image")).collect::<Result<_>>()?;
    // The content's size before anything else (the run checks every stage again). No device
    // budget here: above 2048×2048 or where a buffer would not hold a layer, the run is tiled.
    spec.plan(content, MAX_SIDE, None, None)?;
    Ok(Settings { spec, styles: style_d.into_iter().zip(weights).collect() })
}

/// Where the CLI paints: `device`, models from their files (with the convolution `--conv`
/// asks for), no device budget (a print size is tiled), and `auto`'s teacher finish only where
/// it fits in half the memory this machine has free (as the page gives a run half of what the
/// browser reports): a print size's teacher stage takes ~3.6 KB a pixel (11 GB at 2048×1536).
/// The CLI cannot wait for a model: without the teacher installed, the last size is painted
/// without it.
pub(super) fn site<'a>(device: burn::tensor::Device, load: &'a mut dyn FnMut(ModelKind) -> Result<Vgg>) -> Site<'a> {
    Site { device, cap: MAX_SIDE, budget: None, finish_memory: available_memory().map(|m| m / 2), load, can_wait: false }
}

/// A model from its file, computed the way `--conv` asks.
pub(super) fn load(a: &RunArgs, kind: ModelKind, device: &burn::tensor::Device) -> Result<Vgg> {
    Ok(a.conv.apply(models::load(kind, device)?))
}

/// Say which models paint the run: where the teacher's finish applies, or where it would but is
/// not installed. `first_smaller`: the run has sizes below its last.
pub(super) fn announce(a: &RunArgs, finishes: bool, without_finish: bool, first_smaller: bool) {
    if a.quiet {
        return;
    }
    if without_finish {
        eprintln!(
            "impasto: the VGG16 teacher is not installed (`impasto fetch-teacher`): the distilled model paints every size, without the full-quality finish"
        );
    }
    if finishes {
        let first = if first_smaller { "the smaller sizes" } else { "this size first" };
        eprintln!(
            "impasto: {first} with the {} model, the last with the teacher by {}",
            TEACHER_LADDER.coarse.name(),
            arg_name(TEACHER_LADDER.optimizer)
        );
    }
}
