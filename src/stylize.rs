//! The stepping API shared by the CLI and the browser: a [`Stylizer`] holds the model, the
//! targets, the current image and the optimizer state; [`Stylizer::step`] advances it and returns
//! one [`StepRecord`] per iteration. Pause is not calling `step`; resuming continues the same
//! optimizer state.
//!
//! (The settings, the presets and the stepping loop belong together — a setting is read where the
//! loop uses it; the model, losses, optimizers, tiling and stopping rule live in their own
//! modules.)

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::clock::now_ms;
use crate::device::read;
use crate::error::{Error, Result};
use crate::image_io::Image;
use crate::loss::{LOSS_LAYERS, LossParts, LossWeights, Targets, Term, Terms, losses};
use crate::optim::{Adam, Lbfgs, OptimizerKind, PIXEL_RANGE};
use crate::rng::SplitMix64;
use crate::stopping::Stopping;
use crate::tiled::{self, TiledTargets};
use crate::vgg::{MEAN_RGB, Pooling, Vgg};

/// How the optimization starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// CS20: `noise_ratio`·U(−20, 20) + (1 − `noise_ratio`)·content, mixed around the mean pixel
    /// (CS20 mixes mean-subtracted images).
    #[default]
    NoiseMix,
    /// The content image itself (Gatys et al. 2016, fig. 6 discussion; neural-style `-init image`).
    Content,
    /// Pure noise U(−20, 20) around the mean pixel (the noise mix with ratio 1).
    Noise,
}

impl Init {
    /// Every start, in the order to offer them.
    pub const ALL: [Init; 3] = [Init::NoiseMix, Init::Content, Init::Noise];
}

/// Everything that shapes a run. Defaults are CS20's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Weights of content, style and TV.
    pub weights: LossWeights,
    /// Optimizer.
    pub optimizer: OptimizerKind,
    /// Learning rate: CS20's Adam uses 2.0 on the 0..255 scale; L-BFGS uses 1.
    pub learning_rate: f32,
    /// Start image.
    pub init: Init,
    /// Share of noise in [`Init::NoiseMix`] (CS20: 0.6).
    pub noise_ratio: f32,
    /// Pooling between blocks.
    pub pooling: Pooling,
    /// Seed of the start noise.
    pub seed: u64,
    /// Keep the content's colours: the displayed and saved image takes its luminance from the
    /// optimised image and its chroma from the content ([`image_io::original_colors`]).
    pub original_colors: bool,
    /// Compute each iteration tile by tile, with cores of about this many pixels a side
    /// ([`crate::tiled`]: exact, every tensor a tile's size). `None`: only images larger than
    /// [`crate::budget::AUTO_TILE_PIXELS`] are tiled. Not part of Gatys/CS20: how large images fit.
    pub tile: Option<u32>,
    /// The device's largest buffer in bytes, where the caller knows it (the page: the WebGPU
    /// adapter's limits); natively it is read from the wgpu adapter. A run whose conv1_1 map
    /// would not fit is tiled ([`crate::budget::tile_core`]).
    pub max_buffer_bytes: Option<u64>,
    /// The memory a run may take in bytes, where the caller knows it (the page: its budget for
    /// the device). A run whose [`crate::budget::memory_estimate`] exceeds it is tiled.
    pub max_memory_bytes: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            weights: LossWeights::default(),
            optimizer: OptimizerKind::Adam,
            learning_rate: 2.0,
            init: Init::NoiseMix,
            noise_ratio: 0.6,
            pooling: Pooling::Avg,
            seed: 0,
            original_colors: false,
            tile: None,
            max_buffer_bytes: None,
            max_memory_bytes: None,
        }
    }
}

impl Config {
    /// The same settings with `optimizer` at its default learning rate.
    pub fn with_optimizer(&self, optimizer: OptimizerKind) -> Config {
        Config { optimizer, learning_rate: Config::default_learning_rate(optimizer), ..self.clone() }
    }

    /// The learning rate an optimizer uses by default (Adam 2.0 as CS20, L-BFGS 1.0 as torch).
    pub fn default_learning_rate(optimizer: OptimizerKind) -> f32 {
        match optimizer {
            OptimizerKind::Adam => 2.0,
            OptimizerKind::Lbfgs => 1.0,
        }
    }

    /// Check the ranges a user can get wrong.
    pub fn validate(&self) -> Result<()> {
        let w = &self.weights;
        for (name, v) in [("content weight", w.content), ("style weight", w.style), ("TV weight", w.tv)] {
            if !v.is_finite() || v < 0.0 {
                return Err(Error::InvalidConfig(format!("{name} must be a finite number ≥ 0, not {v}")));
            }
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::InvalidConfig(format!("learning rate must be > 0, not {}", self.learning_rate)));
        }
        if self.tile.is_some_and(|t| t < tiled::ALIGN as u32) {
            return Err(Error::InvalidConfig(format!("tiles must be at least {} px, not {:?}", tiled::ALIGN, self.tile)));
        }
        if !(0.0..=1.0).contains(&self.noise_ratio) {
            return Err(Error::InvalidConfig(format!("noise ratio must be in 0..1, not {}", self.noise_ratio)));
        }
        Ok(())
    }
}

/// The default preset's content weight α (style weight 1): where a run to convergence ends with
/// the photo as CS20's 300 steps keep it, chosen on held-out face and animal close-ups with
/// strongly structured paintings (BENCHMARKS.md "The photo survives").
pub const BALANCED_CONTENT_WEIGHT: f32 = 1e4;

/// Named settings: start image, loss weights and when to stop, for a look.
///
/// Chosen from measured magnitudes (tubingen + starry_night, distilled model, CS20 settings):
/// at 256×192 after 120 Adam iterations content loss ≈ 6.5e2, style ≈ 1e7, TV ≈ 1.5e8; at 48 px
/// after 30, content ≈ 4e2 and style ≈ 2e8. With CS20's α = 0.01 the content term is negligible,
/// and α = 1 moved the 48 px losses by less than 0.01 % (measured while choosing these): what
/// keeps the photo in CS20 is the start image, and Adam's step size does not depend on the
/// loss's scale, only on the balance of its terms. So "faithful" starts from the photo and weighs
/// the content 10⁷× more (α·content then comparable to the style term), and "bold" starts from
/// more noise (it ran 500 iterations when runs had fixed counts; it now stops by itself like the
/// others); γ = 1e-3 makes smoothing ≈ 1–5 % of the loss at 256–512 px.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The photo stays recognisable in detail: start from the photo, α = 1e5, γ = 1e-3.
    Faithful,
    /// CS20's start image (0.6 noise + 0.4 photo, γ = 0) and look, with the content weighted so
    /// that a run to convergence keeps the photo as CS20's 300 steps do
    /// ([`BALANCED_CONTENT_WEIGHT`]), stopping when the loss stops improving
    /// ([`crate::stopping`]). The default.
    Balanced,
    /// The painting takes over: 0.9 noise + 0.1 photo, α = 1e-4, γ = 0.
    Bold,
    /// CS20's recipe exactly: [`Config::default`] and 300 iterations ("classic").
    Cs20,
}

impl Preset {
    /// All presets, mildest first; the classic one last.
    pub const ALL: [Preset; 4] = [Preset::Faithful, Preset::Balanced, Preset::Bold, Preset::Cs20];

    /// The preset a run uses when none is named (CLI and page).
    pub const DEFAULT: Preset = Preset::Balanced;

    /// A configuration with this preset's settings (everything else CS20's), and when its run
    /// stops: by itself, but for the classic recipe's 300 iterations.
    pub fn config(self) -> (Config, Stopping) {
        let c = Config::default();
        let auto = Stopping::from_iterations(None);
        match self {
            Preset::Faithful => {
                (Config { init: Init::Content, weights: LossWeights { content: 1e5, style: 1.0, tv: 1e-3 }, ..c }, auto)
            }
            // α 1e4, not CS20's 0.01: a run that stops by itself (L-BFGS's finish above all) goes
            // on towards its loss's minimum, which at 0.01 is mostly painting (the subject lost);
            // CS20 keeps the photo only by stopping after 300 Adam steps. At 1e4 the minimum keeps
            // the photo as CS20 does (BENCHMARKS.md "The photo survives").
            Preset::Balanced => (Config { weights: LossWeights { content: BALANCED_CONTENT_WEIGHT, ..c.weights }, ..c }, auto),
            Preset::Bold => (Config { noise_ratio: 0.9, weights: LossWeights { content: 1e-4, style: 1.0, tv: 0.0 }, ..c }, auto),
            // CS20, assignment 2 (style_transfer.py): 300 iterations.
            Preset::Cs20 => (c, Stopping::Fixed(300)),
        }
    }

    /// Whether this preset's runs are painted coarse to fine (a quarter, a half, then the size:
    /// [`crate::multiscale`]) where the person did not choose (the CLI without `--size` or
    /// `--max-size`; the page's High resolution). All but the classic recipe, which paints one
    /// size. Departure from CS20 (one size): the default preset's ladder, with the teacher's
    /// L-BFGS finish, ends at CS20's look in 0.18–0.25× of its time at 256 px
    /// (BENCHMARKS.md "The photo survives"); the others paint their first picture in seconds the
    /// same way (the page's Try an example already did).
    pub fn coarse_to_fine(self) -> bool {
        self != Preset::Cs20
    }

    /// The name the CLI's `--preset` and the page use.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Faithful => "faithful",
            Preset::Balanced => "balanced",
            Preset::Bold => "bold",
            Preset::Cs20 => "cs20",
        }
    }

    /// A short label, in plain words.
    pub fn label(self) -> &'static str {
        match self {
            Preset::Faithful => "Close to the photo",
            Preset::Balanced => "Balanced",
            Preset::Bold => "Bold",
            Preset::Cs20 => "CS20 (classic)",
        }
    }

    /// One line on what the preset does to the picture.
    pub fn description(self) -> &'static str {
        match self {
            Preset::Faithful => "Keeps the photo's details and paints over them lightly.",
            Preset::Balanced => "The photo's shapes in the painting's colours and strokes.",
            Preset::Bold => "The painting takes over; the photo shows through in outline.",
            Preset::Cs20 => "Stanford CS20's recipe: 300 iterations from a noisy start, as taught.",
        }
    }

    /// Whether a page shows it only among the advanced settings.
    pub fn advanced(self) -> bool {
        self == Preset::Cs20
    }

    /// The preset of a name, as [`Preset::name`] spells it.
    pub fn from_name(name: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// What one iteration did.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    /// 1 for the first iteration.
    pub iteration: u32,
    /// Each term of the loss of the image this iteration started from (unweighted), by name.
    pub terms: Terms,
    /// Weighted total.
    pub total: f32,
    /// Milliseconds spent stepping since the run began (pauses excluded).
    pub elapsed_ms: f64,
}

enum Optimizer {
    Adam(Adam),
    Lbfgs(Lbfgs),
}

/// What an iteration's losses are computed against: the whole image at once, or tile by tile.
/// (One per run: the variants' sizes do not matter.)
#[allow(clippy::large_enum_variant)]
enum Objective {
    Whole(Targets),
    Tiled(TiledTargets),
}

/// A running style transfer.
pub struct Stylizer {
    model: Vgg,
    config: Config,
    objective: Objective,
    x: Tensor<4>,
    optimizer: Optimizer,
    iteration: u32,
    elapsed_ms: f64,
    width: u32,
    height: u32,
    /// Kept for [`Config::original_colors`].
    content: Option<Image>,
    /// A film frame's temporal term ([`crate::film`]), added to the loss where set.
    temporal: Option<crate::film::Temporal>,
}

/// An image as a `[1, 3, H, W]` tensor on `device`.
pub fn to_tensor(img: &Image, device: &Device) -> Tensor<4> {
    Tensor::from_data(
        TensorData::new(img.pixels.clone(), [1, 3, img.height as usize, img.width as usize]),
        device,
    )
}

/// The start image of a run.
pub fn start_image(config: &Config, content: &Image) -> Image {
    let ratio = match config.init {
        Init::Content => return content.clone(),
        Init::NoiseMix => config.noise_ratio,
        Init::Noise => 1.0,
    };
    let n = (content.width * content.height) as usize;
    let mut rng = SplitMix64::new(config.seed);
    let pixels = content
        .pixels
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let mean = MEAN_RGB[i / n];
            let noise = rng.uniform(-20.0, 20.0);
            (mean + ratio * noise + (1.0 - ratio) * (c - mean)).clamp(PIXEL_RANGE.0, PIXEL_RANGE.1)
        })
        .collect();
    Image { width: content.width, height: content.height, pixels }
}

impl Stylizer {
    /// A stylizer for `content` in the style of `style` (both working images; the style image
    /// is usually the content's size, CS20). Targets are computed here, once.
    pub fn new(config: Config, content: &Image, style: &Image, model: Vgg, device: Device) -> Result<Self> {
        Self::with_styles(config, content, &[(style, 1.0)], model, device)
    }

    /// A stylizer for a blend of styles, each with a weight (normalised to sum 1; see
    /// [`Targets::blend`]). Style images may have any size (a style scale).
    pub fn with_styles(config: Config, content: &Image, styles: &[(&Image, f32)], model: Vgg, device: Device) -> Result<Self> {
        Self::with_start(config, content, styles, model, device, None)
    }

    /// As [`Stylizer::with_styles`], starting from `start` (the content's size) instead of the
    /// configured start image: how a coarse-to-fine run continues at a larger size.
    pub fn with_start(
        config: Config,
        content: &Image,
        styles: &[(&Image, f32)],
        model: Vgg,
        device: Device,
        start: Option<&Image>,
    ) -> Result<Self> {
        config.validate()?;
        if let Some(s) = start
            && (s.width, s.height) != (content.width, content.height)
        {
            return Err(Error::InvalidConfig(format!(
                "the start image is {}x{}, the content {}x{}",
                s.width, s.height, content.width, content.height
            )));
        }
        if styles.is_empty() {
            return Err(Error::InvalidConfig("at least one style image is needed".into()));
        }
        if styles.iter().any(|(_, w)| !(w.is_finite() && *w >= 0.0)) || styles.iter().map(|(_, w)| w).sum::<f32>() <= 0.0 {
            return Err(Error::InvalidConfig("style weights must be non-negative and not all zero".into()));
        }
        let device = device.inner();
        let kept_content = config.original_colors.then(|| content.clone());
        let style_tensors: Vec<(Tensor<4>, f32)> = styles.iter().map(|(img, w)| (to_tensor(img, &device), *w)).collect();
        let content_tensor = to_tensor(content, &device);
        let max_buffer = config.max_buffer_bytes.or_else(|| crate::device::max_buffer_bytes(&device));
        let (width, height) = (content.width as usize, content.height as usize);
        let objective = match crate::budget::tile_core(&model, width, height, config.tile, max_buffer, config.max_memory_bytes) {
            Some(core) => Objective::Tiled(TiledTargets::blend(&model, &content_tensor, &style_tensors, config.pooling, core)),
            None => Objective::Whole(Targets::blend(&model, content_tensor, &style_tensors, config.pooling)),
        };
        let x = match start {
            Some(s) => to_tensor(s, &device),
            None => to_tensor(&start_image(&config, content), &device),
        };
        let optimizer = match config.optimizer {
            OptimizerKind::Adam => Optimizer::Adam(Adam::for_pixels(config.learning_rate)),
            OptimizerKind::Lbfgs => Optimizer::Lbfgs(Lbfgs::new(config.learning_rate, Lbfgs::DEFAULT_HISTORY)),
        };
        Ok(Stylizer {
            model,
            config,
            objective,
            x,
            optimizer,
            iteration: 0,
            elapsed_ms: 0.0,
            width: content.width,
            height: content.height,
            content: kept_content,
            temporal: None,
        })
    }

    /// Add a film frame's temporal term to the loss from the next iteration on (`None`: none).
    pub fn set_temporal(&mut self, temporal: Option<crate::film::Temporal>) -> Result<()> {
        if let Some(t) = &temporal
            && t.dims() != self.x.dims()
        {
            return Err(Error::InvalidConfig(format!("a temporal term of {:?} for an image of {:?}", t.dims(), self.x.dims())));
        }
        self.temporal = temporal;
        Ok(())
    }

    /// Iterations done so far.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }

    /// Milliseconds spent stepping (pauses excluded).
    pub fn elapsed_ms(&self) -> f64 {
        self.elapsed_ms
    }

    /// The working size `(width, height)`.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Run `n` iterations, one record each. A non-finite loss stops with [`Error::Diverged`] and
    /// leaves the last good image in place.
    pub async fn step(&mut self, n: u32) -> Result<Vec<StepRecord>> {
        let mut records = Vec::with_capacity(n as usize);
        for _ in 0..n {
            records.push(self.step_once().await?);
        }
        Ok(records)
    }

    async fn step_once(&mut self) -> Result<StepRecord> {
        Ok(self.step_inner(false).await?.0)
    }

    /// One iteration and the image it leads to, for a display that shows every iteration: with
    /// Adam the losses and the new image come back in **one** readback (a readback waits for the
    /// GPU to finish: two per displayed iteration cost a second round trip). As [`Stylizer::step`]
    /// followed by [`Stylizer::image`].
    pub async fn step_frame(&mut self) -> Result<(StepRecord, Image)> {
        let (record, image) = self.step_inner(true).await?;
        let image = match image {
            Some(img) => img,
            None => self.raw_image().await?,
        };
        let image = match &self.content {
            Some(content) => crate::image_io::original_colors(&image, content)?,
            None => image,
        };
        Ok((record, image))
    }

    /// One iteration; with `frame`, the new image too where it can share the losses' readback.
    async fn step_inner(&mut self, frame: bool) -> Result<(StepRecord, Option<Image>)> {
        let started = now_ms();
        let (weights, pooling) = (self.config.weights, self.config.pooling);
        let (mut parts, mut g) = match &self.objective {
            Objective::Whole(targets) => loss_and_gradient(&self.model, targets, self.x.clone(), weights, pooling)?,
            Objective::Tiled(targets) => tiled::loss_and_gradient(&self.model, targets, self.x.clone(), weights, pooling)?,
        };
        if let Some(t) = &self.temporal {
            let (distance, grad) = t.distance_and_gradient(self.x.clone());
            parts.add(Term::Temporal, t.weight(), distance);
            g = g + grad.mul_scalar(t.weight());
        }
        let stacked = parts.stacked();
        let loss_count = parts.stacked_len();
        let (values, next, image) = match &mut self.optimizer {
            Optimizer::Adam(adam) if frame => {
                // The step is taken before the losses are known, so that the new image comes back
                // with them; a failed readback or a non-finite loss puts Adam's moments back.
                let before = adam.clone();
                let next = adam.step(self.x.clone(), g);
                let mut values = read(Tensor::cat(vec![stacked, next.clone().reshape([-1])], 0))
                    .await
                    .and_then(|all| check_finite(&all[..loss_count]).map(|()| all))
                    .inspect_err(|_| *adam = before)?;
                let pixels = values.split_off(loss_count); // the image, without copying it again
                (values, next, Some(Image::from_planar(self.width, self.height, pixels)?))
            }
            Optimizer::Adam(adam) => {
                let values = read(stacked).await?;
                check_finite(&values)?;
                (values, adam.step(self.x.clone(), g), None)
            }
            Optimizer::Lbfgs(lbfgs) => {
                let all = read(Tensor::cat(vec![stacked, lbfgs.scalars(&g)], 0)).await?;
                check_finite(&all)?;
                let next = lbfgs.step(self.x.clone(), g, [all[loss_count], all[loss_count + 1], all[loss_count + 2]], all[loss_count - 1]);
                (all, next, None)
            }
        };
        self.x = next;
        self.iteration += 1;
        self.elapsed_ms += now_ms() - started;
        let (terms, total) = parts.read(&values);
        let record = StepRecord { iteration: self.iteration, terms, total, elapsed_ms: self.elapsed_ms };
        Ok((record, image))
    }

    /// End an L-BFGS run on the last iterate whose loss it measured and accepted, not on the step
    /// it proposed after it: that one is unmeasured, and may be a step the guard would have taken
    /// back ([`crate::optim::BLOW_UP`]). Adam's last step stays (its steps are bounded by the
    /// learning rate). Whether the image changed.
    pub fn settle(&mut self) -> bool {
        if let Optimizer::Lbfgs(lbfgs) = &mut self.optimizer
            && let Some(x) = lbfgs.settle()
        {
            self.x = x;
            return true;
        }
        false
    }

    /// The current image (async readback: the only kind the web allows).
    /// With [`Config::original_colors`], the content's colours are put back here.
    pub async fn image(&self) -> Result<Image> {
        let img = self.raw_image().await?;
        match &self.content {
            Some(content) => crate::image_io::original_colors(&img, content),
            None => Ok(img),
        }
    }

    /// The optimised image itself, without [`Config::original_colors`].
    pub async fn raw_image(&self) -> Result<Image> {
        let pixels = read(self.x.clone().reshape([-1])).await?;
        Image::from_planar(self.width, self.height, pixels)
    }
}

/// The losses of `x` (plain device) and the gradient of the total with respect to `x`.
///
/// Only the image is tracked: the model's weights and the targets live on the plain device and
/// act as constants, so no weight gradient is computed or stored. The returned losses are
/// detached from the graph.
pub fn loss_and_gradient(
    model: &Vgg,
    targets: &Targets,
    x: Tensor<4>,
    weights: LossWeights,
    pooling: Pooling,
) -> Result<(LossParts, Tensor<4>)> {
    if x.device() == Device::flex()
        && let Some(host) = model.host()
    {
        return host_loss_and_gradient(&*host?, targets, x, weights, pooling);
    }
    let xa = x.autodiff().require_grad();
    let parts = losses(model, xa.clone(), targets, weights, pooling);
    let grads = parts.total().backward();
    let g = xa
        .grad(&grads)
        .ok_or_else(|| Error::Device("the backend returned no image gradient".into()))?
        .without_autodiff();
    Ok((parts.detached(), g))
}

/// [`loss_and_gradient`] by the CPU engine's own pass ([`crate::host`]): the network forward
/// and backward on host memory. The Gram matrices and their gradients' products with the
/// features are host products too; the losses themselves are [`crate::loss`]'s, on the Gram
/// matrices and on the content layer's map.
fn host_loss_and_gradient(
    host: &crate::host::HostVgg,
    targets: &Targets,
    x: Tensor<4>,
    weights: LossWeights,
    pooling: Pooling,
) -> Result<(LossParts, Tensor<4>)> {
    use crate::host::Map;
    use crate::loss::{CONTENT_LAYER, STYLE_LAYERS, content_loss, style_layer_gram_gradient, style_layer_loss};
    let device = x.device();
    let deepest = LOSS_LAYERS.iter().copied().max().expect("loss layers");
    let tape = host.forward(x.clone(), deepest, pooling)?;
    let output = |layer| tape.output(layer).ok_or_else(|| Error::InvalidConfig(format!("the pass stopped before {layer}")));
    let mut at_layers: Vec<(crate::vgg::Layer, Map)> = Vec::with_capacity(LOSS_LAYERS.len());

    let f = output(CONTENT_LAYER)?.to_tensor(&device).autodiff().require_grad();
    let content = content_loss(f.clone(), targets.content.clone());
    if weights.content != 0.0 {
        let grads = content.clone().mul_scalar(weights.content).backward();
        if let Some(g) = f.grad(&grads) {
            at_layers.push((CONTENT_LAYER, Map::from_tensor(g)?));
        }
    }

    let mut style_layers = Vec::with_capacity(STYLE_LAYERS.len());
    for ((layer, lw), a) in STYLE_LAYERS.iter().zip(&targets.grams) {
        let f = output(*layer)?;
        let (n, m) = (f.c, f.h * f.w);
        let g = Tensor::<2>::from_data(TensorData::new(crate::host::gram(f), [n, n]), &device);
        style_layers.push(style_layer_loss(g.clone(), a.clone(), n, m).mul_scalar(*lw));
        if weights.style != 0.0 {
            // ∂E/∂F = F·(∂E/∂G + ∂E/∂Gᵀ) = 2·F·∂E/∂G for G = FᵀF (∂E/∂G is symmetric).
            let dg = style_layer_gram_gradient(g, a.clone(), n, m).mul_scalar(2.0 * weights.style * lw);
            at_layers.push((*layer, crate::host::times(f, &crate::device::host_f32(dg.into_data())?)));
        }
    }
    let style = style_layers.iter().cloned().reduce(|a, b| a + b).expect("five style layers");
    let mut g = host.backward(&tape, at_layers, &device)?;
    let mut parts = LossParts::new(weights, content.without_autodiff(), style, style_layers);
    if let Some((terms, tv)) = crate::loss::image_terms(&x, weights)? {
        for (term, weight, value) in terms {
            parts.add(term, weight, value);
        }
        g = g + tv;
    }
    Ok((parts, g))
}

fn check_finite(values: &[f32]) -> Result<()> {
    match values.iter().find(|v| !v.is_finite()) {
        Some(v) => Err(Error::Diverged(*v as f64)),
        None => Ok(()),
    }
}

/// An output's CS20 losses as measured by one model (the teacher, when judging quality).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Evaluation {
    /// Content loss (unweighted).
    pub content: f32,
    /// Style loss Σ w_l E_l.
    pub style: f32,
    /// α·content + β·style with the CS20 weights.
    pub total: f32,
    /// The terms w_l E_l of the style loss, conv1_1 … conv5_1.
    pub style_layers: Vec<f32>,
}

/// The CS20 losses of `output` against `content` and `style`, all three of the same size, as
/// measured by `model`, with the CS20 weights α = 0.01, β = 1.
pub async fn evaluate(model: &Vgg, device: &Device, content: &Image, style: &Image, output: &Image) -> Result<Evaluation> {
    let targets = evaluation_targets(model, device, content, style);
    evaluate_against(model, device, &targets, output).await
}

/// The targets [`evaluate`] measures against (average pooling, as CS20): computed once, they
/// serve any number of outputs of the same size ([`evaluate_against`]).
pub fn evaluation_targets(model: &Vgg, device: &Device, content: &Image, style: &Image) -> Targets {
    let device = device.clone().inner();
    Targets::new(model, to_tensor(content, &device), to_tensor(style, &device), Pooling::Avg)
}

/// [`evaluate`] of `output` against targets made once by [`evaluation_targets`].
pub async fn evaluate_against(model: &Vgg, device: &Device, targets: &Targets, output: &Image) -> Result<Evaluation> {
    let device = device.clone().inner();
    let parts = losses(model, to_tensor(output, &device), targets, LossWeights::default(), Pooling::Avg);
    let mut stacked = vec![parts.stacked()];
    stacked.extend(parts.style_layers.iter().cloned());
    let v = read(Tensor::cat(stacked, 0)).await?;
    let (terms, total) = parts.read(&v);
    Ok(Evaluation { content: terms[Term::Content], style: terms[Term::Style], total, style_layers: v[parts.stacked_len()..].to_vec() })
}
