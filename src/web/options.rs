//! The run's options as the page sends them, their defaults, bounds, choices and the presets:
//! what the page's form is built from.

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use super::{MAX_SIDE, WebError, to_js};
use crate::error::Error;
use crate::image_io::{self, Limits};
use crate::ladder::TEACHER_LADDER;
use crate::models::{ModelChoice, ModelKind};
use crate::optim::OptimizerKind;
use crate::settings::RunOptions;
use crate::stylize::{Init, Preset};
use crate::vgg::Pooling;

/// A run's options as the page sends them: the run's settings ([`RunOptions`]) and, in the same
/// object, what only the page asks ([`PageOptions`]). [`default_options`] gives the defaults.
pub(super) struct WebOptions {
    pub(super) run: RunOptions,
    pub(super) page: PageOptions,
}

/// What only the page asks of a run, beside its settings.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct PageOptions {
    /// Coarse to fine up to the size (a quarter, a half, the full size); `None`: as the preset
    /// paints ([`Preset::coarse_to_fine`]).
    pub(super) coarse_to_fine: Option<bool>,
    /// Coarse to fine up to the largest size this device holds (the size ignored).
    pub(super) largest: bool,
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

impl Default for PageOptions {
    fn default() -> Self {
        PageOptions {
            coarse_to_fine: None,
            largest: false,
            smallest_stage: None,
            time_budget: Some(crate::pace::PAGE_TIME_BUDGET_S),
            size_fixed: false,
            min_planned_side: None,
        }
    }
}

impl WebOptions {
    /// The options the page sent (`undefined` or `null`: the defaults).
    pub(super) fn read(options: JsValue) -> Result<WebOptions, Error> {
        if options.is_undefined() || options.is_null() {
            return Ok(WebOptions { run: RunOptions::default(), page: PageOptions::default() });
        }
        let bad = |e: serde_wasm_bindgen::Error| Error::InvalidConfig(e.to_string());
        Ok(WebOptions { run: serde_wasm_bindgen::from_value(options.clone()).map_err(bad)?, page: serde_wasm_bindgen::from_value(options).map_err(bad)? })
    }

    /// Whether the run is painted coarse to fine up to its size.
    pub(super) fn coarse_to_fine(&self) -> bool {
        self.page.coarse_to_fine.unwrap_or(self.run.base().coarse_to_fine())
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

/// The page's defaults: the options a run takes when the person changes nothing, every setting
/// at the default preset's value.
#[wasm_bindgen(js_name = defaultOptions)]
pub fn default_options() -> Result<JsValue, WebError> {
    #[derive(Serialize)]
    struct Both {
        #[serde(flatten)]
        run: RunOptions,
        #[serde(flatten)]
        page: PageOptions,
    }
    let defaults = WebOptions { run: RunOptions::default(), page: PageOptions::default() };
    let page = PageOptions { coarse_to_fine: Some(defaults.coarse_to_fine()), ..defaults.page };
    to_js(&Both { run: defaults.run.resolved(), page })
}

/// The choices of each setting that has a few, by the names the page sends them: `{preset,
/// model, optimizer, init, pooling}`, each a list in the order to offer them. The page's lists
/// offer these (a test checks that they agree).
#[wasm_bindgen]
pub fn choices() -> Result<JsValue, WebError> {
    #[derive(Serialize)]
    struct Choices {
        preset: [Preset; 4],
        model: [ModelChoice; 3],
        optimizer: [OptimizerKind; 2],
        init: [Init; 3],
        pooling: [Pooling; 2],
    }
    to_js(&Choices { preset: Preset::ALL, model: ModelChoice::ALL, optimizer: OptimizerKind::ALL, init: Init::ALL, pooling: Pooling::ALL })
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

/// The models, by data: `{list: [{name, file, label}], loads: {choice: [name…]}, finish}`. `file`
/// is the weight file's name under `models/`; `loads` the models a run asked of each choice loads
/// before it starts (the model its sizes are planned with and, for the teacher, its ladder's
/// coarse model); `finish` the model that finishes `auto`'s ladder, fetched while the smaller
/// sizes paint (first, for a film shot, whose frames all have one painter).
#[wasm_bindgen(js_name = models)]
pub fn model_info() -> Result<JsValue, WebError> {
    #[derive(Serialize)]
    struct Model {
        name: &'static str,
        file: &'static str,
        label: &'static str,
    }
    #[derive(Serialize)]
    struct Models {
        list: Vec<Model>,
        loads: std::collections::BTreeMap<&'static str, Vec<&'static str>>,
        finish: &'static str,
    }
    let list = ModelKind::ALL.into_iter().map(|k| Model { name: k.name(), file: k.file_name(), label: k.label() }).collect();
    let loads = ModelChoice::ALL
        .into_iter()
        .map(|c| {
            let mut kinds = vec![c.sizing()];
            if c == ModelChoice::Teacher {
                kinds.insert(0, TEACHER_LADDER.coarse);
            }
            kinds.dedup();
            (c.name(), kinds.into_iter().map(ModelKind::name).collect())
        })
        .collect();
    to_js(&Models { list, loads, finish: ModelKind::Teacher.name() })
}

/// The presets, in the order to offer them: `[{name, label, description, advanced, default,
/// options}]`, `options` the settings the preset sets, as the page sends them: the settings of
/// the picture ([`crate::settings::PictureSetting`]), the iterations and coarse to fine.
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
        options: serde_json::Map<String, serde_json::Value>,
    }
    let mut list = Vec::new();
    for p in Preset::ALL {
        let run = RunOptions { preset: Some(p), ..RunOptions::default() }.resolved();
        let all = serde_json::to_value(&run).map_err(|e| Error::Encode(e.to_string()))?;
        let keep = |k: &String| k == "iterations" || crate::settings::PictureSetting::ALL.iter().any(|s| s.option() == k);
        let mut options: serde_json::Map<_, _> = all.as_object().into_iter().flatten().filter(|(k, _)| keep(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        options.insert("coarseToFine".into(), p.coarse_to_fine().into());
        list.push(PresetInfo {
            name: p.name(),
            label: p.label(),
            description: p.description(),
            advanced: p.advanced(),
            default: p == Preset::DEFAULT,
            options,
        });
    }
    to_js(&list)
}
