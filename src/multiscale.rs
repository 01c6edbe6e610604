//! Coarse-to-fine runs (after crowsonkb/style-transfer-pytorch's multi-scale): optimise at a
//! small size, upsample the result, continue at larger sizes up to the requested one. One type
//! for the CLI (`--max-size`) and the page ("High resolution"), and the estimate of the largest
//! size a device can hold.

use burn::tensor::Device;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::image_io::{self, Decoded, Image};
use crate::stopping::{StageProgress, Stopping};
use crate::stylize::{Config, Stylizer};
use crate::vgg::{COL_BAND_BYTES, ConvAlgorithm, Vgg};

/// The smallest stage of a coarse-to-fine run: below this a stage adds little (the CLI and the
/// page use it; tests pass smaller ones to stay fast).
pub const SMALLEST_STAGE: u32 = 128;

/// The long sides of a coarse-to-fine run ending at `final_long`: a quarter, a half and the full
/// size, keeping only stages of at least `smallest` px, so the large-scale structure is painted
/// where it is cheap and the larger sizes add detail.
pub fn scale_ladder(final_long: u32, smallest: u32) -> Vec<u32> {
    let mut sides: Vec<u32> = [final_long / 4, final_long / 2].into_iter().filter(|&s| s >= smallest).collect();
    sides.push(final_long);
    sides
}

/// Where a run interrupted at long side `side`, `done` iterations in, goes on: the stages of
/// `ladder` (the run's own, smallest first) from that side on, and how many iterations of the
/// first of them it had done (with a fixed count per stage; a stage that stops by itself starts
/// its measure of convergence afresh). A side the ladder does not have (the device's budget
/// changed since) is finished on its own, as a last stage.
pub fn resumed_stages(ladder: &[u32], stopping: Stopping, side: u32, done: u32) -> (Vec<u32>, u32) {
    match (ladder.iter().position(|&s| s == side), stopping) {
        (Some(i), Stopping::Fixed(n)) => (ladder[i..].to_vec(), done.saturating_sub(n.saturating_mul(i as u32))),
        (Some(i), Stopping::Auto(_)) => (ladder[i..].to_vec(), 0),
        (None, _) => (vec![side], 0),
    }
}

/// One iteration of a coarse-to-fine run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleRecord {
    /// Iterations done over all stages, 1 for the first.
    pub iteration: u32,
    /// Iterations done at this stage, 1 for the first.
    pub stage_iteration: u32,
    /// The stage, 1 for the first (smallest).
    pub stage: u32,
    /// Number of stages.
    pub stages: u32,
    /// This stage's working width.
    pub width: u32,
    /// This stage's working height.
    pub height: u32,
    /// Content loss (unweighted), at this stage's size.
    pub content: f32,
    /// Style loss (unweighted).
    pub style: f32,
    /// Total variation (unweighted).
    pub tv: f32,
    /// Weighted total.
    pub total: f32,
    /// Milliseconds spent stepping since the run began, all stages.
    pub elapsed_ms: f64,
    /// The run is complete: its last stage is done ([`Stopping`]). Stepping further is allowed
    /// (it goes on at the last stage) but no caller needs to.
    pub finished: bool,
    /// The share of the run done, 0..1, never decreasing: each stage weighs as its pixels (its
    /// cost per iteration), and within a stage [`StageProgress::progress`].
    pub progress: f32,
}

/// A run over the sizes of a ladder, each stage as long as its [`Stopping`] says.
///
/// Departure from a single-size run: at each new stage the image is the previous stage's result
/// upsampled (Catmull-Rom), the targets are recomputed from the inputs at the new size, and the
/// optimizer starts afresh, because Adam's moments are per pixel and do not survive a resize
/// (crowsonkb's implementation restarts it too).
pub struct MultiScale {
    config: Config,
    content: Decoded,
    styles: Vec<(Decoded, f32)>,
    style_scale: f32,
    sides: Vec<u32>,
    stopping: Stopping,
    /// The current stage's progress under `stopping`.
    progress: StageProgress,
    /// Each stage's share of the whole run's work (its pixels over all stages' pixels).
    weights: Vec<f32>,
    model: Vgg,
    device: Device,
    stage: usize,
    current: Stylizer,
    iterations_before: u32,
    elapsed_before: f64,
    /// Iterations of the first stage done before a resumed run began.
    resumed_done: u32,
}

impl MultiScale {
    /// A run at the long sides `sides` (smallest first; one side for a plain run), each stage as
    /// long as `stopping` says (the last one may be stepped further), starting from the configured
    /// start image or, for a resumed run, from `start`: the image an interrupted run had reached
    /// at the first stage's size, and how many of that stage's iterations it had done (the
    /// first stage then has only the rest to do). Every stage's sizes are checked here, before any
    /// work.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Config,
        content: Decoded,
        styles: Vec<(Decoded, f32)>,
        style_scale: f32,
        sides: Vec<u32>,
        stopping: Stopping,
        model: Vgg,
        device: Device,
        start: Option<(&Image, u32)>,
    ) -> Result<Self> {
        if sides.is_empty() || sides.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::InvalidConfig(format!("the sizes of a coarse-to-fine run must increase, not {sides:?}")));
        }
        let first = stage_images(&content, &styles, style_scale, sides[0])?;
        for &side in &sides[1..] {
            stage_images(&content, &styles, style_scale, side)?;
        }
        let current = stage_stylizer(&config, &first, &styles, &model, &device, start.map(|(image, _)| image))?;
        let pixels: Vec<f32> = sides
            .iter()
            .map(|&s| {
                let (w, h) = image_io::working_size(content.width(), content.height(), s);
                (w * h) as f32
            })
            .collect();
        let all: f32 = pixels.iter().sum();
        let resumed_done = start.map_or(0, |(_, done)| done);
        Ok(MultiScale {
            config,
            content,
            styles,
            style_scale,
            sides,
            stopping,
            progress: StageProgress::new(stopping, resumed_done),
            weights: pixels.iter().map(|p| p / all).collect(),
            model,
            device,
            stage: 0,
            current,
            iterations_before: 0,
            elapsed_before: 0.0,
            resumed_done,
        })
    }

    /// One iteration, moving to the next size first when this stage's iterations are done.
    pub async fn step(&mut self) -> Result<ScaleRecord> {
        self.next_stage_if_done().await?;
        let r = self.current.step(1).await?.remove(0);
        Ok(self.record(r))
    }

    /// One iteration and the image it leads to, in one readback where the optimizer allows
    /// ([`Stylizer::step_frame`]): what a display of every iteration wants.
    pub async fn step_frame(&mut self) -> Result<(ScaleRecord, Image)> {
        self.next_stage_if_done().await?;
        let (r, image) = self.current.step_frame().await?;
        Ok((self.record(r), image))
    }

    async fn next_stage_if_done(&mut self) -> Result<()> {
        if self.stage + 1 < self.sides.len() && self.progress.done() {
            let (w, h) = self.current.size();
            let start = self.current.raw_image().await?;
            let next = self.sides[self.stage + 1];
            let images = stage_images(&self.content, &self.styles, self.style_scale, next)?;
            let (content, _) = &images;
            let start = start.resized(content.width, content.height);
            let stylizer =
                stage_stylizer(&self.config, &images, &self.styles, &self.model, &self.device, Some(&start)).map_err(|e| match e {
                    Error::Device(m) => Error::Device(format!("at {}x{} after {w}x{h}: {m}", content.width, content.height)),
                    e => e,
                })?;
            self.iterations_before += self.current.iteration();
            self.elapsed_before += self.current.elapsed_ms();
            self.current = stylizer;
            self.stage += 1;
            self.progress = StageProgress::new(self.stopping, 0);
        }
        Ok(())
    }

    fn record(&mut self, r: crate::stylize::StepRecord) -> ScaleRecord {
        // The loss of the image this iteration started from: what the stopping rule watches.
        self.progress.push(r.total);
        let (width, height) = self.current.size();
        let finished = self.stage + 1 == self.sides.len() && self.progress.done();
        let progress = self.weights[..self.stage].iter().sum::<f32>() + self.weights[self.stage] * self.progress.progress();
        ScaleRecord {
            iteration: self.iterations_before + r.iteration,
            stage_iteration: r.iteration,
            stage: self.stage as u32 + 1,
            stages: self.sides.len() as u32,
            width,
            height,
            content: r.content,
            style: r.style,
            tv: r.tv,
            total: r.total,
            elapsed_ms: self.elapsed_before + r.elapsed_ms,
            finished,
            progress: if finished { 1.0 } else { progress.min(0.999) },
        }
    }

    /// Whether the current stage is over (the next step begins the next stage, if any).
    pub fn stage_done(&self) -> bool {
        self.progress.done()
    }

    /// Iterations done over all stages.
    pub fn iteration(&self) -> u32 {
        self.iterations_before + self.current.iteration()
    }

    /// Iterations of the whole ladder with a fixed count per stage (the count times the number
    /// of stages, less those a resumed run had done before); `None` for a run that stops by itself.
    pub fn total_iterations(&self) -> Option<u32> {
        let n = self.stopping.fixed()?;
        Some(n.saturating_mul(self.sides.len() as u32).saturating_sub(self.resumed_done))
    }

    /// The current stage's working size.
    pub fn size(&self) -> (u32, u32) {
        self.current.size()
    }

    /// The long sides of the stages.
    pub fn sides(&self) -> &[u32] {
        &self.sides
    }

    /// The current image (recoloured if the run keeps the photo's colours).
    pub async fn image(&self) -> Result<Image> {
        self.current.image().await
    }
}

/// The content and style images of one stage.
fn stage_images(content: &Decoded, styles: &[(Decoded, f32)], style_scale: f32, side: u32) -> Result<(Image, Vec<Image>)> {
    let c = content.to_working(side, "the content image at this size")?;
    let s = styles
        .iter()
        .map(|(d, _)| image_io::working_style(d, &c, style_scale))
        .collect::<Result<Vec<_>>>()?;
    Ok((c, s))
}

/// The stylizer of one stage, from its images (see [`stage_images`]) and the styles' weights.
fn stage_stylizer(
    config: &Config,
    (content, styles): &(Image, Vec<Image>),
    weights: &[(Decoded, f32)],
    model: &Vgg,
    device: &Device,
    start: Option<&Image>,
) -> Result<Stylizer> {
    let blend: Vec<(&Image, f32)> = styles.iter().zip(weights.iter().map(|(_, w)| *w)).collect();
    Stylizer::with_start(config.clone(), content, &blend, model.clone(), device.clone(), start)
}

/// Bytes of device memory a run of `model` at `width`×`height` is estimated to need: the
/// activations of one forward pass, kept for the backward pass, times [`BYTES_PER_ACTIVATION`], the
/// matmul route's bands of shifted inputs where the model takes it ([`ConvAlgorithm::Gemm`]),
/// plus the weights and a fixed allowance for the targets, the optimizer and the allocator.
pub fn memory_estimate(model: &Vgg, width: u32, height: u32) -> u64 {
    // The matmul route builds one band of shifted inputs at a time, and its gradient once more
    // in the backward pass.
    let bands = match model.conv {
        ConvAlgorithm::Direct => 0,
        ConvAlgorithm::Gemm => 2 * COL_BAND_BYTES as u64,
    };
    model.activation_floats(width as usize, height as usize) * BYTES_PER_ACTIVATION
        + model.num_params() * 4
        + bands
        + FIXED_BYTES
}

/// [`memory_estimate`] of a run computed tile by tile with cores of `core` px a side
/// ([`crate::tiled`]): one padded tile's forward and backward pass at a time, plus what stays the
/// whole image's size, [`WHOLE_IMAGE_FLOATS`] per pixel.
pub fn tiled_memory_estimate(model: &Vgg, width: usize, height: usize, core: usize) -> u64 {
    let side = core + 2 * crate::tiled::HALO;
    memory_estimate(model, side.min(width) as u32, side.min(height) as u32) + (width * height) as u64 * WHOLE_IMAGE_FLOATS * 4
}

/// Floats per pixel a tiled run keeps at the whole image's size: the image, its gradient and
/// the sum it is gathered in (3 each), Adam's two moments (6), the photo kept for its colours (3),
/// the content targets (conv4_2's 512 channels at 1/64 of the pixels: 8), rounded up to 32.
const WHOLE_IMAGE_FLOATS: u64 = 32;

/// Device bytes per activation float of the forward pass. Measured: peak resident memory of
/// `impasto stylize --backend cpu` (2 iterations) grows by 2.5 KB (distilled) and 2.7 KB
/// (teacher) per pixel from 256×192 to 512×384, i.e. about 9.2 bytes per activation float (the
/// activation itself, the saved input of the next op, and the gradient); 12 leaves room for the
/// GPU allocator's pools.
pub const BYTES_PER_ACTIVATION: u64 = 12;

/// The part of [`memory_estimate`] that does not grow with the image.
const FIXED_BYTES: u64 = 64 << 20;

/// The largest working area offered in the page, whatever the device: 2048×2048. Measured on an
/// NVIDIA H200 (burn 0.22 wgpu on Vulkan, 140 GB): 2048×1536 runs whole; at 4096×3072 a whole
/// step fails inside burn's kernels ("an error happened during execution"), as 1024×768 does on
/// lavapipe, whose largest buffer is 128 MiB. Larger runs are tiled ([`crate::tiled`]); in the
/// browser, where one iteration at 2048 px already takes seconds, the cap stays.
pub const MAX_PIXELS: u64 = 2048 * 2048;

/// What a device can hold: its largest buffer and the memory a run may use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeviceBudget {
    /// The largest storage buffer (WebGPU `maxStorageBufferBindingSize`, at most `maxBufferSize`).
    pub max_buffer_bytes: u64,
    /// The memory a run may take (WebGPU does not say how much a GPU has: the page assumes a
    /// share of the machine's memory).
    pub memory_bytes: u64,
}

impl DeviceBudget {
    /// Whether a run of `model` at `width`×`height` fits: at most [`MAX_PIXELS`], and either the
    /// whole image — its largest activation in one buffer, its [`memory_estimate`] within the
    /// memory — or, where the whole would not fit, tiles ([`crate::tiled::tile_core`], as the
    /// stylizer decides with the same limits): a padded tile's largest activation in one buffer
    /// and the [`tiled_memory_estimate`] within the memory.
    pub fn fits(&self, model: &Vgg, width: u32, height: u32) -> bool {
        let (w, h) = (width as usize, height as usize);
        let buffer = |w: usize, h: usize| model.largest_activation_floats(w, h) * 4 <= self.max_buffer_bytes;
        let fits = match crate::tiled::tile_core(model, w, h, None, Some(self.max_buffer_bytes), Some(self.memory_bytes)) {
            None => buffer(w, h) && memory_estimate(model, width, height) <= self.memory_bytes,
            Some(core) => {
                let side = core + 2 * crate::tiled::HALO;
                buffer(side, side) && tiled_memory_estimate(model, w, h, core) <= self.memory_bytes
            }
        };
        u64::from(width) * u64::from(height) <= MAX_PIXELS && fits
    }

    /// The largest long side, at most `cap`, at which an image of `width`×`height`'s aspect fits;
    /// `None` if not even [`image_io::MIN_SIDE`] does.
    pub fn largest_side(&self, model: &Vgg, width: u32, height: u32, cap: u32) -> Option<u32> {
        let fits = |side: u32| {
            let (w, h) = image_io::working_size(width, height, side);
            self.fits(model, w, h)
        };
        if cap < image_io::MIN_SIDE || !fits(image_io::MIN_SIDE) {
            return None;
        }
        // `fits` is monotone in the side: bisect.
        let (mut lo, mut hi) = (image_io::MIN_SIDE, cap);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if fits(mid) { lo = mid } else { hi = mid - 1 }
        }
        Some(lo)
    }
}
