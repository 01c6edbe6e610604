//! The browser facade: everything wasm-bindgen, and nothing else, lives here. The page's worker
//! (`www/worker.js`) drives it; the core stays platform-free.
//!
//! The boundary: an [`Engine`] owns the device (WebGPU, or the CPU with the reason why) and the
//! decoded model; a [`WebStylizer`] is one run, stepped one iteration per call
//! (`await stylizer.step()` → a record object), with the current image read back asynchronously
//! as RGBA bytes. Errors cross as `JsError` with the core's one-sentence message.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use burn::tensor::Device;
use serde::Deserialize;
use wasm_bindgen::prelude::*;

use crate::device::BackendKind;
use crate::error::Error;
use crate::image_io::{self, Limits};
use crate::loss::LossWeights;
use crate::optim::OptimizerKind;
use crate::stylize::{Config, Init, Stylizer};
use crate::vgg::{Pooling, Vgg};

/// Install the panic hook once, when the module is instantiated: a panic then reaches the
/// console with its message before the instance aborts (the worker reports the crash).
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The compute device and the loaded model.
#[wasm_bindgen]
pub struct Engine {
    device: Device,
    backend: BackendKind,
    fallback_reason: Option<String>,
    model: Option<Vgg>,
}

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
            Device::wgpu_options()
                .graphics_api(burn::tensor::wgpu::WgpuBackend::WebGpu)
                .init_async()
                .await
                .map_err(|e| format!("WebGPU could not be initialised: {e}"))
        };
        match gpu {
            Ok(device) => Engine { device, backend: BackendKind::Wgpu, fallback_reason: None, model: None },
            Err(reason) => Engine {
                device: crate::device::cpu(),
                backend: BackendKind::Cpu,
                fallback_reason: Some(reason),
                model: None,
            },
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

    /// Decode a weight file (the bytes of `models/*.bpk`) and keep the model.
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(&mut self, weights: Vec<u8>) -> Result<(), JsError> {
        self.model = Some(Vgg::from_bytes(weights, &self.device)?);
        Ok(())
    }

    /// Start a run: `content` and `style` are the files' bytes (any supported format), `options`
    /// an object `{size, contentWeight, styleWeight, tvWeight, optimizer, learningRate, init,
    /// noiseRatio, pooling, seed, originalColors, styleScale}` whose missing fields take CS20's
    /// defaults (and no colour preservation, style scale 1).
    pub fn stylizer(&self, content: &[u8], style: &[u8], options: JsValue) -> Result<WebStylizer, JsError> {
        self.start(content, &[(style.to_vec(), 1.0)], options)
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
    ) -> Result<WebStylizer, JsError> {
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
        self.start(content, &blend, options)
    }
}

impl Engine {
    fn start(&self, content: &[u8], styles: &[(Vec<u8>, f32)], options: JsValue) -> Result<WebStylizer, JsError> {
        let model = self.model.clone().ok_or_else(|| Error::Weights("no model is loaded".into()))?;
        let options: WebOptions = if options.is_undefined() || options.is_null() {
            WebOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options).map_err(|e| Error::InvalidConfig(e.to_string()))?
        };
        if !(image_io::MIN_SIDE..=4096).contains(&options.size) {
            return Err(Error::InvalidConfig(format!(
                "size must be between {} and 4096 pixels, not {}",
                image_io::MIN_SIDE,
                options.size
            ))
            .into());
        }
        let config = options.config();
        config.validate()?;
        let content = image_io::decode(content, "the content image", Limits::default())?;
        let content = content.to_working(options.size, "the content image at this size")?;
        let mut images = Vec::with_capacity(styles.len());
        for (k, (bytes, _)) in styles.iter().enumerate() {
            let what = if k == 0 { "the style image".to_string() } else { format!("style image {}", k + 1) };
            let decoded = image_io::decode(bytes, &what, Limits::default())?;
            images.push(image_io::working_style(&decoded, &content, options.style_scale)?);
        }
        let blend: Vec<(&image_io::Image, f32)> = images.iter().zip(styles.iter().map(|(_, w)| *w)).collect();
        Ok(WebStylizer { inner: Stylizer::with_styles(config, &content, &blend, model, self.device.clone())? })
    }
}

fn has_webgpu() -> bool {
    let gpu = js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
        .and_then(|nav| js_sys::Reflect::get(&nav, &"gpu".into()));
    matches!(gpu, Ok(v) if !v.is_undefined() && !v.is_null())
}

/// Options of a run, as the page sends them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct WebOptions {
    size: u32,
    content_weight: f32,
    style_weight: f32,
    tv_weight: f32,
    optimizer: OptimizerKind,
    learning_rate: Option<f32>,
    init: Init,
    noise_ratio: f32,
    pooling: Pooling,
    seed: u64,
    original_colors: bool,
    style_scale: f32,
}

impl Default for WebOptions {
    fn default() -> Self {
        let c = Config::default();
        WebOptions {
            size: 512,
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
            style_scale: 1.0,
        }
    }
}

impl WebOptions {
    fn config(&self) -> Config {
        Config {
            weights: LossWeights { content: self.content_weight, style: self.style_weight, tv: self.tv_weight },
            optimizer: self.optimizer,
            learning_rate: self.learning_rate.unwrap_or(Config::default_learning_rate(self.optimizer)),
            init: self.init,
            noise_ratio: self.noise_ratio,
            pooling: self.pooling,
            seed: self.seed,
            original_colors: self.original_colors,
        }
    }
}

/// One run.
#[wasm_bindgen]
pub struct WebStylizer {
    inner: Stylizer,
}

#[wasm_bindgen]
impl WebStylizer {
    /// One iteration; resolves to `{iteration, content, style, tv, total, elapsedMs}`.
    pub async fn step(&mut self) -> Result<JsValue, JsError> {
        let mut records = self.inner.step(1).await?;
        let record = records.pop().ok_or_else(|| Error::Device("no step was taken".into()))?;
        Ok(serde_wasm_bindgen::to_value(&record).map_err(|e| Error::Encode(e.to_string()))?)
    }

    /// The current image as RGBA bytes (`width·height·4`), for an `ImageData`.
    pub async fn rgba(&self) -> Result<js_sys::Uint8ClampedArray, JsError> {
        let img = self.inner.image().await?;
        Ok(js_sys::Uint8ClampedArray::from(&img.to_rgba8()[..]))
    }

    /// Working width.
    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.inner.size().0
    }

    /// Working height.
    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.inner.size().1
    }

    /// Iterations done.
    #[wasm_bindgen(getter)]
    pub fn iteration(&self) -> u32 {
        self.inner.iteration()
    }
}
