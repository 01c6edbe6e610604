//! The run's options as the page sends them, their defaults, bounds and the presets: what the
//! page's form is built from.

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use super::{MAX_SIDE, WebError, to_js};
use crate::error::Error;
use crate::image_io::{self, Limits};
use crate::loss::LossWeights;
use crate::models::ModelChoice;
use crate::multiscale::{DEFAULT_SIZE, DEFAULT_STYLE_SCALE};
use crate::optim::OptimizerKind;
use crate::stylize::{Config, Init, Preset};
use crate::vgg::Pooling;

/// Options of a run, as the page sends them ([`default_options`] gives the defaults).
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct WebOptions {
    /// The network asked for (`auto` by default: [`ModelChoice::Auto`]).
    pub(super) model: ModelChoice,
    /// The preset the settings come from, by name (`None`: changed by hand); only the default
    /// preset paints the teacher's ladder ([`TEACHER_LADDER`]).
    pub(super) preset: Option<String>,
    pub(super) size: u32,
    pub(super) content_weight: f32,
    pub(super) style_weight: f32,
    pub(super) tv_weight: f32,
    pub(super) optimizer: OptimizerKind,
    pub(super) learning_rate: Option<f32>,
    pub(super) init: Init,
    pub(super) noise_ratio: f32,
    pub(super) pooling: Pooling,
    pub(super) seed: u64,
    pub(super) original_colors: bool,
    pub(super) style_scale: f32,
    /// Coarse to fine up to `size` (a quarter, a half, the full size).
    pub(super) coarse_to_fine: bool,
    /// Coarse to fine up to the largest size this device holds (`size` ignored).
    pub(super) largest: bool,
    /// Iterations at each stage; `None` (the default): each stage stops by itself when the loss
    /// stops improving ([`crate::stopping`]).
    pub(super) iterations: Option<u32>,
    /// The smallest stage (default 128 px; tests use smaller ones).
    pub(super) smallest_stage: Option<u32>,
    /// Seconds the run should take on this device (`None`: no limit): after its first size, a
    /// coarse-to-fine run picks its last size by the speed it measured ([`crate::pace`]).
    pub(super) time_budget: Option<f32>,
    /// The person chose the size or the iteration count: the time budget keeps them and only
    /// estimates.
    pub(super) size_fixed: bool,
    /// The smallest last size the time budget may choose (default
    /// [`crate::pace::MIN_PLANNED_SIDE`]; tests use smaller ones).
    pub(super) min_planned_side: Option<u32>,
}

impl Default for WebOptions {
    /// The default preset's settings at 512 px, one size.
    fn default() -> Self {
        let c = Preset::DEFAULT.config().0;
        WebOptions {
            model: ModelChoice::default(),
            preset: Some(Preset::DEFAULT.name().to_string()),
            size: DEFAULT_SIZE,
            content_weight: c.weights.content,
            style_weight: c.weights.style,
            tv_weight: c.weights.tv,
            optimizer: c.optimizer,
            learning_rate: None,
            init: c.init,
            noise_ratio: c.noise_ratio,
            pooling: c.pooling,
            seed: c.seed,
            original_colors: c.original_colors,
            style_scale: DEFAULT_STYLE_SCALE,
            coarse_to_fine: Preset::DEFAULT.coarse_to_fine(),
            largest: false,
            iterations: Preset::DEFAULT.config().1.fixed(),
            smallest_stage: None,
            time_budget: Some(crate::pace::PAGE_TIME_BUDGET_S),
            size_fixed: false,
            min_planned_side: None,
        }
    }
}

impl WebOptions {
    pub(super) fn config(&self) -> Config {
        Config {
            weights: LossWeights { content: self.content_weight, style: self.style_weight, tv: self.tv_weight },
            optimizer: self.optimizer,
            learning_rate: self.learning_rate.unwrap_or(Config::default_learning_rate(self.optimizer)),
            init: self.init,
            noise_ratio: self.noise_ratio,
            pooling: self.pooling,
            seed: self.seed,
            original_colors: self.original_colors,
            // Tiled only where one buffer would not hold conv1_1's map or the memory estimate
            // exceeds the budget (the engine's budget sets both limits, `Engine::start`); the page
            // caps the area at 2048×2048 (budget::MAX_PIXELS).
            tile: None,
            max_buffer_bytes: None,
            max_memory_bytes: None,
        }
    }
}

/// Check an image file the way a run will read it, when the person chooses it: `{width, height}`,
/// or the one-sentence reason it cannot be used (`what` names it: "the content image").
#[wasm_bindgen(js_name = checkImage)]
pub fn check_image(bytes: &[u8], what: &str) -> Result<JsValue, WebError> {
    let decoded = image_io::decode(bytes, what, Limits::default())?;
    #[derive(Serialize)]
    struct Size {
        width: u32,
        height: u32,
    }
    let size = Size { width: decoded.width(), height: decoded.height() };
    Ok(serde_wasm_bindgen::to_value(&size).map_err(|e| Error::Encode(e.to_string()))?)
}

/// The page's defaults: the options a run takes when the person changes nothing.
#[wasm_bindgen(js_name = defaultOptions)]
pub fn default_options() -> Result<JsValue, WebError> {
    to_js(&WebOptions::default())
}

/// The bounds of the settings a person types, as `{size, styleScale, iterations, timeBudget,
/// shotFrames, shotSide}` (a film shot's frames and their long side in the page),
/// each `[min, max]` (sizes in px, the time budget in seconds): the page's form takes its limits
/// and its messages from them, and the core checks the same ones.
#[wasm_bindgen]
pub fn bounds() -> Result<JsValue, WebError> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Bounds {
        size: [u32; 2],
        style_scale: [f64; 2],
        iterations: [u32; 2],
        time_budget: [f64; 2],
        /// A shot's frames, and their long side as the page decodes them.
        shot_frames: [u32; 2],
        shot_side: [u32; 2],
    }
    // As written in the source (0.1, not f32's 0.10000000149…), for the form and its messages.
    let decimal = |v: f32| v.to_string().parse::<f64>().unwrap_or(v as f64);
    let (scale_lo, scale_hi) = image_io::STYLE_SCALE_BOUNDS;
    let (budget_lo, budget_hi) = crate::pace::TIME_BUDGET_BOUNDS_S;
    to_js(&Bounds {
        size: [image_io::MIN_SIDE, MAX_SIDE],
        style_scale: [decimal(scale_lo), decimal(scale_hi)],
        iterations: [1, crate::stopping::MAX_ITERATIONS],
        time_budget: [decimal(budget_lo), decimal(budget_hi)],
        shot_frames: [1, super::shot::MAX_FRAMES],
        shot_side: [image_io::MIN_SIDE, super::shot::MAX_SIDE],
    })
}

/// The options that shape the picture ([`crate::settings::PictureSetting`], by the names the page
/// sends them): a field of one changed by hand leaves the preset; any other field keeps it.
#[wasm_bindgen(js_name = pictureSettings)]
pub fn picture_settings() -> Result<JsValue, WebError> {
    to_js(&crate::settings::PictureSetting::ALL.map(|s| s.option()))
}

/// The presets, in the order to offer them: `[{name, label, description, advanced, default,
/// options}]`, `options` the settings the preset sets, as the page sends them.
#[wasm_bindgen]
pub fn presets() -> Result<JsValue, WebError> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct PresetInfo {
        name: &'static str,
        label: &'static str,
        description: &'static str,
        advanced: bool,
        default: bool,
        options: PresetOptions,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct PresetOptions {
        content_weight: f32,
        style_weight: f32,
        tv_weight: f32,
        init: Init,
        noise_ratio: f32,
        iterations: Option<u32>,
        coarse_to_fine: bool,
    }
    let list: Vec<PresetInfo> = Preset::ALL
        .into_iter()
        .map(|p| {
            let (c, stopping) = p.config();
            PresetInfo {
                name: p.name(),
                label: p.label(),
                description: p.description(),
                advanced: p.advanced(),
                default: p == Preset::DEFAULT,
                options: PresetOptions {
                    content_weight: c.weights.content,
                    style_weight: c.weights.style,
                    tv_weight: c.weights.tv,
                    init: c.init,
                    noise_ratio: c.noise_ratio,
                    iterations: stopping.fixed(),
                    coarse_to_fine: p.coarse_to_fine(),
                },
            }
        })
        .collect();
    to_js(&list)
}
