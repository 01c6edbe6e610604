//! What a device can hold: the memory a run is estimated to need,
//! whole or in tiles, whether a run is tiled ([`tile_core`]), and the largest working size that
//! fits a device's budget. The page's engine (`web`) picks sizes with it; the stylizer decides to
//! tile with [`tile_core`], by the same estimates. The tiles' geometry (halo, alignment) is
//! [`crate::tiled`]'s; this room only reads it.

use crate::image_io;
use crate::optim::Lbfgs;
use crate::tiled::{ALIGN, padded_side};
use crate::vgg::{COL_BAND_BYTES, ConvAlgorithm, TeacherShape, Vgg};

/// What the estimates read of a model: its shape and how it computes, not its weights. A loaded
/// [`Vgg`], or the teacher's [`TeacherShape`] before its weights have arrived.
pub trait Footprint {
    /// How its convolutions are computed.
    fn conv(&self) -> ConvAlgorithm;
    /// [`Vgg::activation_floats`].
    fn activation_floats(&self, width: usize, height: usize) -> u64;
    /// [`Vgg::largest_activation_floats`].
    fn largest_activation_floats(&self, width: usize, height: usize) -> u64;
    /// [`Vgg::num_params`].
    fn num_params(&self) -> u64;
}

impl Footprint for Vgg {
    fn conv(&self) -> ConvAlgorithm {
        self.conv
    }
    fn activation_floats(&self, width: usize, height: usize) -> u64 {
        Vgg::activation_floats(self, width, height)
    }
    fn largest_activation_floats(&self, width: usize, height: usize) -> u64 {
        Vgg::largest_activation_floats(self, width, height)
    }
    fn num_params(&self) -> u64 {
        Vgg::num_params(self)
    }
}

impl Footprint for TeacherShape {
    fn conv(&self) -> ConvAlgorithm {
        self.conv
    }
    fn activation_floats(&self, width: usize, height: usize) -> u64 {
        TeacherShape::activation_floats(self, width, height)
    }
    fn largest_activation_floats(&self, width: usize, height: usize) -> u64 {
        TeacherShape::largest_activation_floats(self, width, height)
    }
    fn num_params(&self) -> u64 {
        TeacherShape::num_params(self)
    }
}

/// Bytes of device memory a run of `model` at `width`×`height` is estimated to need: the
/// activations of one forward pass, kept for the backward pass, times [`BYTES_PER_ACTIVATION`], the
/// matmul route's bands of shifted inputs where the model takes it ([`ConvAlgorithm::Gemm`]),
/// plus the weights (three copies for the CPU engine's own pass, [`ConvAlgorithm::Host`]: the
/// model's and its two layouts) and a fixed allowance for the targets, the optimizer and the
/// allocator.
pub fn memory_estimate(model: &impl Footprint, width: u32, height: u32) -> u64 {
    // The matmul route builds one band of shifted inputs at a time, and its gradient once more
    // in the backward pass.
    let (bands, weight_copies) = match model.conv() {
        ConvAlgorithm::Direct => (0, 1),
        ConvAlgorithm::Host => (0, 3),
        ConvAlgorithm::Gemm => (2 * COL_BAND_BYTES as u64, 1),
    };
    model.activation_floats(width as usize, height as usize) * BYTES_PER_ACTIVATION
        + weight_copies * model.num_params() * 4
        + bands
        + FIXED_BYTES
}

/// Bytes L-BFGS keeps beyond what [`memory_estimate`] allows for Adam (its two moments, within
/// the fixed allowance): the history's curvature pairs (`s` and `y`,
/// [`Lbfgs::DEFAULT_HISTORY`] each), the last gradient, step and accepted iterate, and the
/// two-loop recursion's two working images, less Adam's two; each image 3 floats a pixel.
pub fn lbfgs_bytes(width: u32, height: u32) -> u64 {
    (2 * Lbfgs::DEFAULT_HISTORY as u64 + 3) * 3 * u64::from(width) * u64::from(height) * 4
}

/// [`memory_estimate`] of a run computed tile by tile with cores of `core` px a side
/// ([`crate::tiled`]): one padded tile's forward and backward pass at a time, plus what stays the
/// whole image's size, [`WHOLE_IMAGE_FLOATS`] per pixel.
pub fn tiled_memory_estimate(model: &impl Footprint, width: usize, height: usize, core: usize) -> u64 {
    let side = padded_side(core);
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

/// Images with more pixels than this are tiled automatically: 2048×2048, the largest area the
/// whole-image path is known to run on a GPU (2048×1536 ran on an H200, 4096×3072 failed in burn's
/// kernels: BENCHMARKS.md).
pub const AUTO_TILE_PIXELS: usize = 2048 * 2048;

/// The core side used when tiling automatically: 1024 px (+ 2·64 halo), an activation footprint
/// the whole-image path handles everywhere it runs, with 27 % halo overhead.
pub const AUTO_TILE_CORE: usize = 1024;

/// Whether a run of `model` at `width`×`height` is tiled, and the core side if so: when asked
/// for (`asked`) and the image is larger than one tile; automatically when the image has more than
/// [`AUTO_TILE_PIXELS`], when its largest activation (conv1_1's 64 channels at full size) would
/// exceed the device's largest buffer (`max_buffer_bytes`: lavapipe allows 128 MiB, so 1024×768
/// already fails whole there with burn's "An error happened during execution"), or when its
/// [`memory_estimate`] exceeds the memory a run may take (`memory_bytes`, the page's budget). The
/// automatic core starts at [`AUTO_TILE_CORE`] and halves until a padded tile fits the buffer and
/// the run's [`tiled_memory_estimate`] the memory (or the core reaches 32 px: the caller then
/// finds it does not fit, [`DeviceBudget::fits`]).
pub fn tile_core(
    model: &impl Footprint,
    width: usize,
    height: usize,
    asked: Option<u32>,
    max_buffer_bytes: Option<u64>,
    memory_bytes: Option<u64>,
) -> Option<usize> {
    let buffer = |w: usize, h: usize| max_buffer_bytes.is_none_or(|max| model.largest_activation_floats(w, h) * 4 <= max);
    let memory = |bytes: u64| memory_bytes.is_none_or(|max| bytes <= max);
    match asked {
        Some(c) if (c as usize) < width.max(height) => Some((c as usize).max(ALIGN)),
        Some(_) => None,
        None if width * height <= AUTO_TILE_PIXELS
            && buffer(width, height)
            && memory(memory_estimate(model, width as u32, height as u32)) =>
        {
            None
        }
        None => {
            let fits = |core: usize| {
                buffer(padded_side(core), padded_side(core)) && memory(tiled_memory_estimate(model, width, height, core))
            };
            let mut core = AUTO_TILE_CORE;
            while core > 2 * ALIGN && !fits(core) {
                core /= 2;
            }
            Some(core)
        }
    }
}

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
    /// memory — or, where the whole would not fit, tiles ([`tile_core`], as the
    /// stylizer decides with the same limits): a padded tile's largest activation in one buffer
    /// and the [`tiled_memory_estimate`] within the memory.
    pub fn fits(&self, model: &impl Footprint, width: u32, height: u32) -> bool {
        let (w, h) = (width as usize, height as usize);
        let buffer = |w: usize, h: usize| model.largest_activation_floats(w, h) * 4 <= self.max_buffer_bytes;
        let fits = match tile_core(model, w, h, None, Some(self.max_buffer_bytes), Some(self.memory_bytes)) {
            None => buffer(w, h) && memory_estimate(model, width, height) <= self.memory_bytes,
            Some(core) => {
                let side = padded_side(core);
                buffer(side, side) && tiled_memory_estimate(model, w, h, core) <= self.memory_bytes
            }
        };
        u64::from(width) * u64::from(height) <= MAX_PIXELS && fits
    }

    /// The largest long side, at most `cap`, at which an image of `width`×`height`'s aspect fits;
    /// `None` if not even [`image_io::MIN_SIDE`] does.
    pub fn largest_side(&self, model: &impl Footprint, width: u32, height: u32, cap: u32) -> Option<u32> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiled::ALIGN;

    #[test]
    #[cfg(not(target_family = "wasm"))] // (models::load reads files)
    fn tiling_is_automatic_above_the_area_cap_or_the_buffer_limit_or_the_memory_or_when_asked() {
        let model = crate::models::load(crate::models::ModelKind::Distilled, &crate::device::cpu()).unwrap();
        let lavapipe = Some(128 << 20);
        assert_eq!(tile_core(&model, 2048, 2048, None, None, None), None);
        assert_eq!(tile_core(&model, 4096, 3072, None, None, None), Some(AUTO_TILE_CORE));
        // 1024×768×64 floats = 201 MB > 128 MiB; a 512 core (640² padded, 105 MB) fits.
        assert_eq!(tile_core(&model, 1024, 768, None, lavapipe, None), Some(512));
        assert_eq!(tile_core(&model, 512, 384, None, lavapipe, None), None);
        assert_eq!(tile_core(&model, 4096, 3072, None, Some(4 << 30), None), Some(AUTO_TILE_CORE));
        assert_eq!(tile_core(&model, 300, 200, Some(128), None, None), Some(128));
        assert_eq!(tile_core(&model, 300, 200, Some(300), None, None), None);
        assert_eq!(tile_core(&model, 300, 200, Some(4), None, None), Some(ALIGN));
        // By memory: whole where the estimate fits, otherwise the largest core whose tiled
        // estimate fits (a 1 GB budget at 1600×1200: 1024 and 512 cores do not, 256 does).
        let whole = memory_estimate(&model, 1600, 1200);
        assert_eq!(tile_core(&model, 1600, 1200, None, None, Some(whole)), None);
        let budget = 1 << 30;
        assert!(whole > budget);
        let core = tile_core(&model, 1600, 1200, None, None, Some(budget)).expect("tiled by memory");
        assert!(tiled_memory_estimate(&model, 1600, 1200, core) <= budget);
        assert!(tiled_memory_estimate(&model, 1600, 1200, 2 * core) > budget, "the largest core that fits: {core}");
        assert_eq!(core, 256);
        // Nothing fits a budget below even the smallest tile's: the caller is told by
        // DeviceBudget::fits.
        let tiny = tile_core(&model, 1600, 1200, None, None, Some(1 << 20)).unwrap();
        assert!(tiled_memory_estimate(&model, 1600, 1200, tiny) > 1 << 20);
    }
}
