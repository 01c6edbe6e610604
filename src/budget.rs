//! What a device can hold (issue 18: a room of its own): the memory a run is estimated to need,
//! whole or in tiles, and the largest working size that fits a device's budget. The page's
//! engine (`web`) picks sizes with it; the stylizer ([`crate::tiled::tile_core`]) decides to tile
//! by the same estimates.

use crate::image_io;
use crate::vgg::{COL_BAND_BYTES, ConvAlgorithm, Vgg};

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
