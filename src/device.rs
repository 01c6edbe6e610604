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

/// The native wgpu adapter a process initialised.
#[cfg(not(target_family = "wasm"))]
#[derive(Clone)]
struct NativeWgpu {
    device: Device,
    /// The largest buffer the adapter allows, in bytes.
    largest: u64,
    /// The adapter's name, as its driver gives it.
    name: String,
    /// The adapter is a CPU emulation of a GPU (lavapipe/llvmpipe, SwiftShader, WARP).
    software: bool,
}

/// The native wgpu device, once per process.
#[cfg(not(target_family = "wasm"))]
static WGPU: std::sync::OnceLock<std::result::Result<NativeWgpu, String>> = std::sync::OnceLock::new();

#[cfg(not(target_family = "wasm"))]
fn wgpu_init() -> &'static std::result::Result<NativeWgpu, String> {
    WGPU.get_or_init(|| {
        let (device, setup) = Device::wgpu_options().init_with_setup().map_err(|e| e.to_string())?;
        let limits = setup.device.limits();
        let info = setup.adapter.get_info();
        Ok(NativeWgpu {
            device,
            // What cubecl itself takes as its largest allocation (`MemoryDeviceProperties`).
            largest: limits.max_storage_buffer_binding_size.min(limits.max_buffer_size),
            software: info.device_type == burn::tensor::wgpu::wgpu::DeviceType::Cpu,
            name: info.name,
        })
    })
}

/// The wgpu device, initialised once per process (burn allows one initialisation).
#[cfg(not(target_family = "wasm"))]
pub fn wgpu() -> Result<Device> {
    wgpu_init().as_ref().map(|w| w.device.clone()).map_err(|e| no_adapter(e))
}

#[cfg(not(target_family = "wasm"))]
fn no_adapter(e: &str) -> Error {
    Error::Device(format!("no usable GPU adapter for wgpu ({e})"))
}

/// The native wgpu adapter's name, and whether it is a software emulation of a GPU.
#[cfg(not(target_family = "wasm"))]
pub fn wgpu_adapter() -> Result<(String, bool)> {
    wgpu_init()
        .as_ref()
        .map(|w| (w.name.clone(), w.software))
        .map_err(|e| no_adapter(e))
}

/// The device to paint on where a person chose none: wgpu on a GPU adapter, else the CPU —
/// also where the only adapter is a software emulation (lavapipe on a machine without a GPU),
/// which is many times slower than the CPU engine. The page decides the same way
/// (`www/worker.js`). With the CPU, why, in a line: the adapter's name where it was software.
#[cfg(not(target_family = "wasm"))]
pub fn auto() -> (Device, BackendKind, Option<String>) {
    match wgpu_init() {
        Ok(w) if !w.software => (w.device.clone(), BackendKind::Wgpu, None),
        Ok(w) => (cpu(), BackendKind::Cpu, Some(format!("wgpu's adapter ({}) is software emulation, slower than the CPU engine", w.name))),
        Err(_) => (cpu(), BackendKind::Cpu, None),
    }
}

/// The largest storage buffer `device` allows, in bytes, where it has such a limit (the native
/// wgpu device); `None` for the CPU. In a browser the page passes the adapter's limits instead
/// (`budget::DeviceBudget`).
pub fn max_buffer_bytes(device: &Device) -> Option<u64> {
    // Only a device already initialised can be the one asked about: never initialise here.
    #[cfg(not(target_family = "wasm"))]
    if let Some(Ok(w)) = WGPU.get()
        && &w.device == device
    {
        return Some(w.largest);
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
