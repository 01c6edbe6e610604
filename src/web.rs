//! The browser facade: everything wasm-bindgen, and nothing else, lives here. The page's worker
//! (`www/worker.js`) drives it; the core stays platform-free.
//!
//! The boundary: an [`Engine`] owns the device (WebGPU, or the CPU with the reason why) and the
//! decoded model; a [`WebStylizer`] is one run, stepped one iteration per call
//! (`await stylizer.step()` → a record object), with the current image read back asynchronously
//! as RGBA bytes. Errors cross as data: a JS `Error` with the core's one-sentence message, its
//! `kind` and the `input` it is about ([`WebError`]).
//!
//! (Every function the page calls, each a few lines over the core: the engine and a run here, the
//! options and presets the form is built from in [`options`], the teacher's conversion for Node in
//! [`teacher`]. wasm-bindgen writes them all into one declaration file, which the page's type
//! check reads.)

#![deny(clippy::unwrap_used, clippy::expect_used)]

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::device::BackendKind;
use crate::error::{Error, Input};
use crate::image_io::{self, Decoded, Limits};
use crate::budget::DeviceBudget;
use crate::pace::Pace;
use crate::models::{ModelChoice, ModelKind};
use crate::ladder::TEACHER_LADDER;
use crate::multiscale::{MultiScale, SMALLEST_STAGE, SizeRequest};
use crate::run::{Built, Resume, RunSpec, Site};
use crate::stylize::Config;
use crate::vgg::{ConvAlgorithm, Vgg};

mod failure;
mod options;
mod shot;
mod teacher;

pub use failure::WebError;
pub use shot::WebShot;

use options::WebOptions;
// The page's and the wasm tests' calls: the defaults, bounds and presets the form is built from.
pub use options::{bounds, check_image, choices, default_options, model_info, picture_settings, presets};

/// Install the panic hook once, when the module is instantiated: a panic then reaches the
/// console with its message before the instance aborts (the worker reports the crash).
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The compute device and the loaded models.
#[wasm_bindgen]
pub struct Engine {
    device: Device,
    backend: BackendKind,
    fallback_reason: Option<String>,
    /// The models loaded, at most one of each kind (the teacher's ladder needs both).
    models: Vec<(ModelKind, Vgg)>,
    budget: DeviceBudget,
    /// How the model computes its convolutions: by device until the page names the adapter.
    conv: ConvAlgorithm,
}

/// The largest long side the page offers (the number input's maximum).
const MAX_SIDE: u32 = 4096;

/// What the CPU engine may use: wasm32 addresses 4 GiB, shared with the module, the decoded
/// images and their copies.
const CPU_BUDGET: DeviceBudget = DeviceBudget { max_buffer_bytes: 1 << 30, memory_bytes: 2 << 30 };

/// WebGPU's default limits (`maxStorageBufferBindingSize` 128 MiB) and 1 GiB, until the page
/// tells the engine its adapter's limits ([`Engine::set_budget`]).
const WEBGPU_DEFAULT_BUDGET: DeviceBudget = DeviceBudget { max_buffer_bytes: 128 << 20, memory_bytes: 1 << 30 };

#[wasm_bindgen]
impl Engine {
    /// An engine on WebGPU when `useGpu` is true and the browser provides a working adapter,
    /// otherwise on the CPU, with the reason in `fallbackReason`. Call once per worker: burn
    /// initialises WebGPU only once.
    pub async fn create(use_gpu: bool) -> Engine {
        let gpu = if !use_gpu {
            Err("the CPU was chosen in the settings".to_string())
        } else if !has_webgpu() {
            Err("this browser does not offer WebGPU (navigator.gpu is missing)".to_string())
        } else {
            webgpu().await
        };
        match gpu {
            Ok(device) => {
                let conv = ConvAlgorithm::for_device(&device);
                Engine { device, backend: BackendKind::Wgpu, fallback_reason: None, models: Vec::new(), budget: WEBGPU_DEFAULT_BUDGET, conv }
            }
            Err(reason) => {
                let device = crate::device::cpu();
                let conv = ConvAlgorithm::for_device(&device);
                Engine { device, backend: BackendKind::Cpu, fallback_reason: Some(reason), models: Vec::new(), budget: CPU_BUDGET, conv }
            }
        }
    }

    /// `"wgpu"` (WebGPU) or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.name().to_string()
    }

    /// Why the engine runs on the CPU, if it does.
    #[wasm_bindgen(getter, js_name = fallbackReason)]
    pub fn fallback_reason(&self) -> Option<String> {
        self.fallback_reason.clone()
    }

    /// Tell a WebGPU engine what its adapter holds: `maxBufferBytes` the adapter's
    /// `min(maxStorageBufferBindingSize, maxBufferSize)` (burn requests the adapter's limits),
    /// `memoryBytes` the memory a run may take (WebGPU does not report it: the page derives it
    /// from `navigator.deviceMemory`). Ignored on the CPU.
    #[wasm_bindgen(js_name = setBudget)]
    pub fn set_budget(&mut self, max_buffer_bytes: f64, memory_bytes: f64) {
        if self.backend == BackendKind::Wgpu && max_buffer_bytes > 0.0 && memory_bytes > 0.0 {
            self.budget = DeviceBudget { max_buffer_bytes: max_buffer_bytes as u64, memory_bytes: memory_bytes as u64 };
        }
    }

    /// Tell a WebGPU engine which adapter it runs on (`GPUAdapterInfo`'s `architecture` and
    /// `description`; the browser does not pass them to wgpu), so that its convolutions take the
    /// faster route there ([`ConvAlgorithm::for_adapter`]). Ignored on the CPU.
    #[wasm_bindgen(js_name = setAdapter)]
    pub fn set_adapter(&mut self, architecture: &str, description: &str) {
        if self.backend == BackendKind::Wgpu {
            self.set_conv(ConvAlgorithm::for_adapter(&format!("{architecture} {description}")));
        }
    }

    /// `"direct"`, `"gemm"` or `"host"`: how the model computes its convolutions.
    #[wasm_bindgen(getter, js_name = convAlgorithm)]
    pub fn conv_algorithm(&self) -> String {
        self.conv.name().to_string()
    }

    /// Compute convolutions by `name` (`"direct"`, `"gemm"` or `"host"`) whatever the adapter
    /// (the benchmark compares them).
    #[wasm_bindgen(js_name = setConvAlgorithm)]
    pub fn set_conv_algorithm(&mut self, name: &str) -> Result<(), WebError> {
        let conv = ConvAlgorithm::from_name(name)
            .ok_or_else(|| Error::InvalidConfig(format!("unknown convolution algorithm {name:?} (direct, gemm or host)")))?;
        self.set_conv(conv);
        Ok(())
    }

    fn set_conv(&mut self, conv: ConvAlgorithm) {
        self.conv = conv;
        for (_, m) in &mut self.models {
            *m = m.clone().with_conv(conv);
        }
    }

    /// The largest long side a run asked of `model` (`"auto"`, `"distilled"` or `"teacher"`) can
    /// work at on this device for an image of `width`×`height`'s aspect (at most 4096), or 0 if
    /// none.
    #[wasm_bindgen(js_name = largestSide)]
    pub fn largest_side(&self, model: &str, width: u32, height: u32) -> Result<u32, WebError> {
        let choice = ModelChoice::from_name(model)
            .ok_or_else(|| Error::InvalidConfig(format!("unknown model {model:?} (auto, distilled or teacher)")))?;
        let model = self.model(choice.sizing())?;
        Ok(self.budget.largest_side(model, width.max(1), height.max(1), MAX_SIDE).unwrap_or(0))
    }

    /// Decode a weight file (the bytes of `models/*.bpk`) and keep it as the model `name`
    /// (`"distilled"` or `"teacher"`), replacing one loaded before under that name.
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(&mut self, name: &str, weights: Vec<u8>) -> Result<(), WebError> {
        let kind = model_kind(name)?;
        let model = Vgg::from_bytes(weights, &self.device)?.with_conv(self.conv);
        self.models.retain(|(k, _)| *k != kind);
        self.models.push((kind, model));
        Ok(())
    }

    /// Give a run whose last stage waits for the teacher (`stylizer.pendingModel`) the teacher
    /// this engine has loaded.
    #[wasm_bindgen(js_name = finishWith)]
    pub fn finish_with(&self, stylizer: &mut WebStylizer) -> Result<(), WebError> {
        let teacher = self.model(ModelKind::Teacher)?.clone();
        Ok(stylizer.inner.finish_with(teacher)?)
    }

    /// Whether the model `name` is loaded.
    #[wasm_bindgen(js_name = hasModel)]
    pub fn has_model(&self, name: &str) -> bool {
        ModelKind::from_name(name).is_some_and(|kind| self.models.iter().any(|(k, _)| *k == kind))
    }

    /// Start a run: `content` and `style` are the files' bytes (any supported format), `options`
    /// an object `{model, preset, size, contentWeight, styleWeight, tvWeight, optimizer,
    /// learningRate, init, noiseRatio, pooling, seed, originalColors, styleScale, coarseToFine,
    /// largest, iterations, smallestStage}` whose missing fields take [`default_options`]' values.
    /// With `model: "teacher"`, coarse to fine and the default preset's settings, the smaller
    /// sizes are painted with the distilled model (which must be loaded too) and the last with
    /// the teacher by L-BFGS ([`crate::ladder::TEACHER_LADDER`]); `stageModels` says which.
    pub fn stylizer(&self, content: &[u8], style: &[u8], options: JsValue) -> Result<WebStylizer, WebError> {
        self.start(content, &[(style.to_vec(), 1.0)], options, None)
    }

    /// Start a run on a blend of styles: `styles` an array of the files' bytes (`Uint8Array`s),
    /// `weights` one blend weight each (normalised by the core); `options` as for `stylizer`.
    #[wasm_bindgen(js_name = stylizerBlend)]
    pub fn stylizer_blend(
        &self,
        content: &[u8],
        styles: js_sys::Array,
        weights: Vec<f32>,
        options: JsValue,
    ) -> Result<WebStylizer, WebError> {
        let blend = style_bytes(styles, weights)?;
        self.start(content, &blend, options, None)
    }

    /// Resume a run from an image the page kept (`rgba`, as `rgba()` gave it), e.g. after the GPU
    /// was lost: `at` is `{width, height, done}`, the image's size and the iterations the run had
    /// done. It goes on at that size from that image and, coarse to fine, climbs the rest of the
    /// ladder `options` describe (with a fixed count per stage, that stage short of what it had
    /// done); otherwise as `stylizerBlend`.
    #[wasm_bindgen(js_name = stylizerResume)]
    pub fn stylizer_resume(
        &self,
        content: &[u8],
        styles: js_sys::Array,
        weights: Vec<f32>,
        options: JsValue,
        rgba: &[u8],
        at: JsValue,
    ) -> Result<WebStylizer, WebError> {
        #[derive(Deserialize)]
        struct At {
            width: u32,
            height: u32,
            done: u32,
            /// Go on from a finished painting to the larger sizes of the run asked for (a run
            /// its time limit painted smaller): `done` is then ignored.
            #[serde(default)]
            onward: bool,
        }
        let at: At = serde_wasm_bindgen::from_value(at).map_err(|e| Error::InvalidConfig(format!("resume point: {e}")))?;
        let start = image_io::Image::from_rgba8(at.width, at.height, rgba)?;
        let blend = style_bytes(styles, weights)?;
        let resume = Resume { image: start, done: at.done, onward: at.onward };
        self.start(content, &blend, options, Some(resume))
    }
}

fn style_bytes(styles: js_sys::Array, weights: Vec<f32>) -> Result<Vec<(Vec<u8>, f32)>, WebError> {
    if styles.length() as usize != weights.len() {
        return Err(Error::InvalidConfig(format!("{} style images but {} weights", styles.length(), weights.len())).into());
    }
    let mut blend = Vec::with_capacity(weights.len());
    for (bytes, w) in styles.iter().zip(weights) {
        let bytes = bytes
            .dyn_into::<js_sys::Uint8Array>()
            .map_err(|_| Error::InvalidConfig("each style image must be a Uint8Array".into()))?;
        blend.push((bytes.to_vec(), w));
    }
    Ok(blend)
}

impl Engine {
    /// The run the page's `options` describe (a setting left out is its preset's, as
    /// [`crate::settings::RunOptions`] reads it; coarse to fine left out, the preset's too),
    /// checked, and its time budget where it has one.
    fn spec(&self, options: JsValue) -> Result<(RunSpec, Option<Pace>), WebError> {
        let options = WebOptions::read(options)?;
        let coarse_to_fine = options.coarse_to_fine();
        let WebOptions { run: o, page } = options;
        o.check_size(MAX_SIDE, "the size")?;
        let pace = match page.time_budget {
            Some(seconds) => Some(Pace {
                min_side: page.min_planned_side.unwrap_or(crate::pace::MIN_PLANNED_SIDE),
                ..Pace::new(seconds, page.size_fixed || page.largest)?
            }),
            None => None,
        };
        // Tiled only where one buffer would not hold conv1_1's map or the memory estimate exceeds
        // the engine's budget; the page caps the area at 2048×2048 (budget::MAX_PIXELS).
        let config = Config {
            max_buffer_bytes: Some(self.budget.max_buffer_bytes),
            max_memory_bytes: Some(self.budget.memory_bytes),
            ..o.config()
        };
        let spec = RunSpec {
            config,
            stopping: o.stopping(),
            sizes: SizeRequest {
                size: o.size(),
                coarse_to_fine,
                largest: page.largest,
                smallest_stage: page.smallest_stage.unwrap_or(SMALLEST_STAGE),
            },
            style_scale: o.style_scale,
            model: o.model,
            preset: o.preset,
            ladder: TEACHER_LADDER,
        };
        // The settings first: a wrong one is said at once, before the images are decoded.
        spec.check()?;
        Ok((spec, pace))
    }

    /// `f` at this engine's site: its device, what it holds, its loaded models. `can_wait`: a run
    /// may begin before the teacher's weights are here (its last size waits for them).
    fn at_site<T>(&self, can_wait: bool, f: impl FnOnce(&mut Site) -> crate::error::Result<T>) -> Result<T, WebError> {
        let name = if self.backend == BackendKind::Wgpu { "this GPU" } else { "the CPU engine" };
        let mut load = |kind: ModelKind| -> crate::error::Result<Vgg> { Ok(self.model(kind)?.clone()) };
        let mut site = Site {
            device: self.device.clone(),
            cap: MAX_SIDE,
            budget: Some((&self.budget, name)),
            finish_memory: None,
            load: &mut load,
            can_wait,
        };
        Ok(f(&mut site)?)
    }

    fn start(
        &self,
        content: &[u8],
        styles: &[(Vec<u8>, f32)],
        options: JsValue,
        resume: Option<Resume>,
    ) -> Result<WebStylizer, WebError> {
        let (spec, pace) = self.spec(options)?;
        let content = read_image(content, Input::Content)?;
        let decoded = read_styles(styles)?;
        let Built { mut run, notice, painter, .. } = self.at_site(true, |site| spec.build(content, decoded, site, resume))?;
        if let Some(pace) = pace {
            run.set_pace(pace);
        }
        Ok(WebStylizer { inner: run, notice, painter })
    }

    /// The loaded model of this kind, if it is loaded.
    fn loaded(&self, kind: ModelKind) -> Option<&Vgg> {
        self.models.iter().find(|(k, _)| *k == kind).map(|(_, m)| m)
    }

    /// The loaded model of this kind.
    fn model(&self, kind: ModelKind) -> Result<&Vgg, Error> {
        self.loaded(kind).ok_or_else(|| Error::ModelUnavailable(format!("the {} model is not loaded", kind.name())))
    }
}

/// An image of the run from its file's bytes; an error names which.
fn read_image(bytes: &[u8], input: Input) -> Result<Decoded, Error> {
    image_io::decode(bytes, &input.phrase(), Limits::default()).map_err(|e| e.about(input))
}

/// The style images of a blend, each with its weight.
fn read_styles(styles: &[(Vec<u8>, f32)]) -> Result<Vec<(Decoded, f32)>, Error> {
    styles.iter().enumerate().map(|(k, (bytes, weight))| Ok((read_image(bytes, Input::Style(k))?, *weight))).collect()
}

/// A model's kind from its name, as the page sends it.
fn model_kind(name: &str) -> Result<ModelKind, Error> {
    ModelKind::from_name(name).ok_or_else(|| Error::InvalidConfig(format!("unknown model {name:?} (distilled or teacher)")))
}

/// The browser's WebGPU device, or why there is none.
#[cfg(feature = "webgpu")]
async fn webgpu() -> Result<Device, String> {
    Device::wgpu_options()
        .graphics_api(burn::tensor::wgpu::WgpuBackend::WebGpu)
        .init_async()
        .await
        .map_err(|e| format!("WebGPU could not be initialised: {e}"))
}

/// The threaded CPU module has no WebGPU engine: the page loads it only where WebGPU gave no
/// usable adapter.
#[cfg(not(feature = "webgpu"))]
async fn webgpu() -> Result<Device, String> {
    Err("WebGPU offers no usable adapter in this browser".to_string())
}

/// The threads the CPU engine computes on: the pool `initThreadPool` started in the threaded
/// module, 1 in the plain one.
#[wasm_bindgen(js_name = threadCount)]
pub fn thread_count() -> usize {
    #[cfg(feature = "threads")]
    return rayon::current_num_threads();
    #[cfg(not(feature = "threads"))]
    1
}

#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

fn has_webgpu() -> bool {
    let gpu = js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
        .and_then(|nav| js_sys::Reflect::get(&nav, &"gpu".into()));
    matches!(gpu, Ok(v) if !v.is_undefined() && !v.is_null())
}

/// A value as a plain JS object (maps as objects, `None` as `null`).
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, WebError> {
    let ser = serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true).serialize_missing_as_null(true);
    Ok(value.serialize(&ser).map_err(|e| Error::Encode(e.to_string()))?)
}

/// One iteration's record and the image it led to ([`WebStylizer::step_frame`]).
#[wasm_bindgen]
pub struct Frame {
    record: JsValue,
    rgba: js_sys::Uint8ClampedArray,
}

#[wasm_bindgen]
impl Frame {
    /// The iteration's record, as from `step`.
    #[wasm_bindgen(getter)]
    pub fn record(&self) -> JsValue {
        self.record.clone()
    }

    /// The image after it as RGBA bytes (`width·height·4`), as from `rgba()`.
    #[wasm_bindgen(getter)]
    pub fn rgba(&self) -> js_sys::Uint8ClampedArray {
        self.rgba.clone()
    }
}

/// One run (one size, or coarse to fine).
#[wasm_bindgen]
pub struct WebStylizer {
    inner: MultiScale,
    notice: Option<String>,
    /// The kind of the run's model (the finish, where there is one, is the teacher's).
    painter: ModelKind,
}

#[wasm_bindgen]
impl WebStylizer {
    /// One iteration; resolves to `{iteration, stageIteration, stage, stages, width, height,
    /// terms, total, elapsedMs, finished, progress}` (`iteration` counts over all stages; `terms`:
    /// each term of the loss by name, `{content, style}` and `tv` or `temporal` where the loss has
    /// them; `finished`: the run is complete, stop stepping; `progress`: 0..1).
    pub async fn step(&mut self) -> Result<JsValue, WebError> {
        let record = self.inner.step().await?;
        Ok(serde_wasm_bindgen::to_value(&record).map_err(|e| Error::Encode(e.to_string()))?)
    }

    /// One iteration and the image it leads to, in one GPU readback where the optimizer allows
    /// (Adam; an L-BFGS stage's last step reads back its settled image again): a [`Frame`]. For a
    /// page that shows every iteration; `step` then `rgba` reads back twice.
    #[wasm_bindgen(js_name = stepFrame)]
    pub async fn step_frame(&mut self) -> Result<Frame, WebError> {
        let (record, image) = self.inner.step_frame().await?;
        let record =
            serde_wasm_bindgen::to_value(&record).map_err(|e| Error::Encode(e.to_string()))?;
        Ok(Frame {
            record,
            rgba: js_sys::Uint8ClampedArray::from(&image.to_rgba8()[..]),
        })
    }

    /// The current image as RGBA bytes (`width·height·4`), for an `ImageData`.
    pub async fn rgba(&self) -> Result<js_sys::Uint8ClampedArray, WebError> {
        let img = self.inner.image().await?;
        Ok(js_sys::Uint8ClampedArray::from(&img.to_rgba8()[..]))
    }

    /// The current stage's working width.
    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.inner.size().0
    }

    /// The current stage's working height.
    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.inner.size().1
    }

    /// Iterations done, all stages.
    #[wasm_bindgen(getter)]
    pub fn iteration(&self) -> u32 {
        self.inner.iteration()
    }

    /// The long side of each stage, smallest first.
    #[wasm_bindgen(getter)]
    pub fn sides(&self) -> Vec<u32> {
        self.inner.sides().to_vec()
    }

    /// Iterations of the whole run with a fixed count per stage; `undefined` for a run that
    /// stops by itself (each record's `finished` and `progress` say where it is).
    #[wasm_bindgen(getter, js_name = totalIterations)]
    pub fn total_iterations(&self) -> Option<u32> {
        self.inner.total_iterations()
    }

    /// Why the size differs from the one asked for, if it does.
    #[wasm_bindgen(getter)]
    pub fn notice(&self) -> Option<String> {
        self.notice.clone()
    }

    /// What the time budget's plan chose and why, once made after the first size, where it
    /// changed the size or the run will not end in time (`sides` then says the new ladder).
    #[wasm_bindgen(getter, js_name = planLine)]
    pub fn plan_line(&self) -> Option<String> {
        self.inner.plan_line().map(String::from)
    }

    /// The model that paints each stage (`"distilled"` or `"teacher"`), smallest first (the
    /// teacher's finish counts while its weights are on their way; after `finishWithout`, the
    /// distilled model paints the last size too).
    #[wasm_bindgen(getter, js_name = stageModels)]
    pub fn stage_models(&self) -> Vec<String> {
        self.inner.stage_models(self.painter).into_iter().map(String::from).collect()
    }

    /// The model the last stage still waits for (`"teacher"`), or `undefined`: give it with
    /// `Engine.finishWith` once loaded, before the last stage.
    #[wasm_bindgen(getter, js_name = pendingModel)]
    pub fn pending_model(&self) -> Option<String> {
        self.inner.finish_pending().then(|| ModelKind::Teacher.name().to_string())
    }

    /// Whether the next step would begin the last stage while its model is still to come: step
    /// only after `Engine.finishWith` or `finishWithout`.
    #[wasm_bindgen(getter, js_name = awaitsModel)]
    pub fn awaits_model(&self) -> bool {
        self.inner.awaits_finish()
    }

    /// Paint the last stage with the distilled model too (by the run's own optimizer and
    /// stopping rule): the teacher's weights will not come (offline, a failed download).
    #[wasm_bindgen(js_name = finishWithout)]
    pub fn finish_without(&mut self) {
        self.inner.finish_without();
    }
}
