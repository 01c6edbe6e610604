//! The one place that picks the compute device — burn's wgpu backend (Vulkan, Metal or DX12
//! natively; WebGPU in the browser) or burn's `flex` CPU backend — and reads tensors back from it.

use burn::tensor::{Device, Tensor, TensorData};
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

/// The native wgpu device and the largest buffer its adapter allows, once per process.
#[cfg(not(target_family = "wasm"))]
static WGPU: std::sync::OnceLock<std::result::Result<(Device, u64), String>> = std::sync::OnceLock::new();

#[cfg(not(target_family = "wasm"))]
fn wgpu_init() -> &'static std::result::Result<(Device, u64), String> {
    WGPU.get_or_init(|| {
        let (device, setup) = Device::wgpu_options().init_with_setup().map_err(|e| e.to_string())?;
        let limits = setup.device.limits();
        // What cubecl itself takes as its largest allocation (`MemoryDeviceProperties`).
        let largest = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        Ok((device, largest))
    })
}

/// The wgpu device, initialised once per process (burn allows one initialisation).
#[cfg(not(target_family = "wasm"))]
pub fn wgpu() -> Result<Device> {
    wgpu_init()
        .clone()
        .map(|(device, _)| device)
        .map_err(|e| Error::Device(format!("no usable GPU adapter for wgpu ({e})")))
}

/// The largest storage buffer `device` allows, in bytes, where it has such a limit (the native
/// wgpu device); `None` for the CPU. In a browser the page passes the adapter's limits instead
/// (`budget::DeviceBudget`).
pub fn max_buffer_bytes(device: &Device) -> Option<u64> {
    // Only a device already initialised can be the one asked about: never initialise here.
    #[cfg(not(target_family = "wasm"))]
    if let Some(Ok((wgpu, largest))) = WGPU.get()
        && wgpu == device
    {
        return Some(*largest);
    }
    let _ = device;
    None
}

/// Read a tensor back to the host as `f32`, asynchronously: the only readback on the browser's
/// path (WebGPU has no blocking readback).
pub async fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    let data = t.into_data_async().await.map_err(|e| {
        Error::Device(format!(
            "readback failed: {}",
            crate::error::first_line(&format!("{e:?}"))
        ))
    })?;
    host_f32(data)
}

/// Native tools: read a tensor back to the host as `f32`, blocking.
#[cfg(not(target_family = "wasm"))]
pub fn read_sync<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    host_f32(t.into_data())
}

/// Data already on the host, as `f32`.
pub fn host_f32(data: TensorData) -> Result<Vec<f32>> {
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Device(format!("readback: {e:?}")))
}
