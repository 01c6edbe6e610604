//! The one place that picks the compute device: burn's wgpu backend (Vulkan, Metal or DX12
//! natively; WebGPU in the browser) or burn's `flex` CPU backend.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The backends Impasto runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn-wgpu: a GPU through Vulkan/Metal/DX12, or WebGPU in a browser.
    Wgpu,
    /// burn-flex on the CPU.
    Cpu,
}

impl BackendKind {
    /// `wgpu` or `cpu`.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cpu => "cpu",
        }
    }
}

/// The CPU device (burn-flex).
pub fn cpu() -> Device {
    Device::flex()
}

/// The wgpu device, initialised once per process (burn allows one initialisation).
#[cfg(not(target_family = "wasm"))]
pub fn wgpu() -> Result<Device> {
    use std::sync::OnceLock;
    static WGPU: OnceLock<std::result::Result<Device, String>> = OnceLock::new();
    WGPU.get_or_init(|| Device::wgpu_options().init().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| Error::Device(format!("no usable GPU adapter for wgpu ({e})")))
}

/// The wgpu device on WebGPU, initialised asynchronously (the only way in a browser). Call once
/// per page or worker and keep the device.
pub async fn wgpu_async() -> Result<Device> {
    Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| Error::Device(format!("WebGPU could not be initialised ({e})")))
}

/// A device of the given kind (native).
#[cfg(not(target_family = "wasm"))]
pub fn device(kind: BackendKind) -> Result<Device> {
    match kind {
        BackendKind::Wgpu => wgpu(),
        BackendKind::Cpu => Ok(cpu()),
    }
}
