//! The CPU engine's own pass through a [`Vgg`]: forward to the loss layers and backward to the
//! image, on host memory, with no autodiff graph ([`ConvAlgorithm::Host`]).
//!
//! - Feature maps are pixel-major (`data[(y·w + x)·c + channel]`), so a pixel's channels are one
//!   contiguous row and a convolution's output is one matrix of pixels × channels.
//! - A 3×3 convolution with "same" padding is matrix products by the `gemm` crate, in one of three
//!   ways by its shape ([`convolve`]): each pixel's 3×3 neighbourhood stacked (im2col) in bands of
//!   pixels, one band per core, up to [`STACKED_CHANNELS`] input channels; above that, three
//!   products over a zero-padded copy of the map, one per kernel row (a kernel row's three
//!   neighbours of a pixel are `3·c` consecutive floats, so the map itself, read with a row stride
//!   of `c`, is the left-hand matrix); and with fewer than [`FEW_CHANNELS`] output channels, one
//!   product to all nine taps' outputs, gathered after. A 1×1 convolution is one product.
//! - The gradient with respect to a convolution's input (stride 1, "same" padding) is the
//!   convolution of the output's gradient with the kernel flipped in space and its channels
//!   swapped, so the backward pass runs the same products as the forward. Only the image is a
//!   variable: no weight gradient is ever computed.
//!
//! Why not burn-flex's own convolution: it computes the same functions at about half the rate
//! the same `gemm` reaches on these shapes (it re-lays input and weights on every call and takes
//! the input gradient as a transposed convolution, gemm then col2im); BENCHMARKS.md, "The CPU
//! engine's own pass".
//!
//! [`ConvAlgorithm::Host`]: crate::vgg::ConvAlgorithm::Host

use crate::error::{Error, Result};
use crate::vgg::{Layer, MEAN_RGB, Pooling, VGG16, Vgg};
use burn::tensor::{Device, Tensor, TensorData};

/// A feature map, pixel-major.
#[derive(Clone, Debug)]
pub struct Map {
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// Channels.
    pub c: usize,
    /// `h·w·c` floats, `data[(y·w + x)·c + channel]`.
    pub data: Vec<f32>,
}

impl Map {
    /// The map as a `[1, c, h, w]` tensor on `device`.
    pub fn to_tensor(&self, device: &Device) -> Tensor<4> {
        Tensor::<4>::from_data(TensorData::new(self.data.clone(), [1, self.h, self.w, self.c]), device).permute([0, 3, 1, 2])
    }

    /// A `[1, c, h, w]` tensor's values as a map (a host read: the CPU engine's tensors are on
    /// the host already).
    pub fn from_tensor(t: Tensor<4>) -> Result<Map> {
        let [n, c, h, w] = t.dims();
        if n != 1 {
            return Err(Error::InvalidConfig(format!("the CPU engine's own pass takes one image, not {n}")));
        }
        let data = crate::device::host_f32(t.permute([0, 2, 3, 1]).into_data())?;
        Ok(Map { h, w, c, data })
    }

    /// The rows `ys` and columns `xs` of the map.
    pub fn crop(&self, ys: std::ops::Range<usize>, xs: std::ops::Range<usize>) -> Map {
        let mut data = Vec::with_capacity(ys.len() * xs.len() * self.c);
        for y in ys.clone() {
            data.extend_from_slice(&self.data[(y * self.w + xs.start) * self.c..(y * self.w + xs.end) * self.c]);
        }
        Map { h: ys.len(), w: xs.len(), c: self.c, data }
    }

    /// A map of this one's shape, zero but for `part` at rows `ys` and columns `xs`.
    pub fn embed(&self, part: &Map, ys: std::ops::Range<usize>, xs: std::ops::Range<usize>) -> Map {
        let mut data = vec![0f32; self.data.len()];
        for (row, y) in ys.enumerate() {
            let at = (y * self.w + xs.start) * self.c;
            data[at..at + xs.len() * self.c].copy_from_slice(&part.data[row * part.w * part.c..(row + 1) * part.w * part.c]);
        }
        Map { h: self.h, w: self.w, c: self.c, data }
    }
}

/// One convolution (3×3 "same" or 1×1), its weight laid out for the products both ways.
#[derive(Debug)]
struct HostConv {
    k: usize,
    cin: usize,
    cout: usize,
    /// `[k·k·cin, cout]`: row `(ky·k + kx)·cin + ci`, column `co` holds `W[co, ci, ky, kx]`.
    forward: Vec<f32>,
    /// `[k·k·cout, cin]`: row `(ky·k + kx)·cout + co`, column `ci` holds
    /// `W[co, ci, k−1−ky, k−1−kx]`, the kernel of the input gradient's convolution.
    adjoint: Vec<f32>,
    bias: Vec<f32>,
}

/// A [`Vgg`]'s weights laid out for the host pass.
#[derive(Debug)]
pub struct HostVgg {
    /// Per row of [`VGG16`], its chain of convolutions.
    layers: Vec<Vec<HostConv>>,
}

/// A [`HostVgg`] made once and shared; a clone starts empty, so a model copied and then changed
/// never sees the weights it was copied with ([`Vgg`]'s `host` field).
#[derive(Debug, Default)]
pub struct HostCache(std::sync::OnceLock<std::sync::Arc<HostVgg>>);

impl Clone for HostCache {
    fn clone(&self) -> Self {
        HostCache::default()
    }
}

impl HostCache {
    /// The kept layout, or `make`'s, kept.
    pub fn get_or_make(&self, make: impl FnOnce() -> Result<HostVgg>) -> Result<std::sync::Arc<HostVgg>> {
        if let Some(h) = self.0.get() {
            return Ok(h.clone());
        }
        let made = std::sync::Arc::new(make()?);
        Ok(self.0.get_or_init(|| made).clone())
    }
}

/// What the forward pass keeps for the backward pass: every layer's output (after ReLU), which
/// gives its ReLU's mask and the max pooling's choice.
pub struct Tape {
    /// The image minus the mean, pixel-major.
    input: Map,
    /// Each layer's output up to the deepest asked for.
    outputs: Vec<Map>,
    pooling: Pooling,
}

impl Tape {
    /// The output (after ReLU) of `layer`, if the pass went that deep.
    pub fn output(&self, layer: Layer) -> Option<&Map> {
        self.outputs.get(layer as usize)
    }
}

impl HostVgg {
    /// `model`'s weights, read to the host and laid out.
    pub fn new(model: &Vgg) -> Result<HostVgg> {
        let mut layers = Vec::with_capacity(model.layers.len());
        let mut channels = 3;
        for layer in &model.layers {
            let mut convs = Vec::with_capacity(layer.convs.len());
            for conv in &layer.convs {
                let [cout, cin, k, k2] = conv.weight.val().dims();
                if k != k2 || (k != 1 && k != 3) {
                    return Err(Error::InvalidConfig(format!("the CPU engine's own pass takes 1×1 and 3×3 kernels, not {k}×{k2}")));
                }
                if cin != channels || cout == 0 {
                    return Err(Error::InvalidConfig(format!("a convolution of {cin}→{cout} channels after {channels}")));
                }
                channels = cout;
                let w = crate::device::host_f32(conv.weight.val().into_data())?;
                let bias = crate::device::host_f32(conv.bias.val().into_data())?;
                let at = |co: usize, ci: usize, ky: usize, kx: usize| w[((co * cin + ci) * k + ky) * k + kx];
                let mut forward = vec![0f32; k * k * cin * cout];
                let mut adjoint = vec![0f32; k * k * cin * cout];
                for ky in 0..k {
                    for kx in 0..k {
                        for ci in 0..cin {
                            for co in 0..cout {
                                forward[((ky * k + kx) * cin + ci) * cout + co] = at(co, ci, ky, kx);
                                adjoint[((ky * k + kx) * cout + co) * cin + ci] = at(co, ci, k - 1 - ky, k - 1 - kx);
                            }
                        }
                    }
                }
                convs.push(HostConv { k, cin, cout, forward, adjoint, bias });
            }
            layers.push(convs);
        }
        Ok(HostVgg { layers })
    }

    /// The forward pass of `x` (`[1, 3, H, W]`, RGB 0..255) through `deepest`.
    pub fn forward(&self, x: Tensor<4>, deepest: Layer, pooling: Pooling) -> Result<Tape> {
        let mut input = Map::from_tensor(x)?;
        if input.c != 3 {
            return Err(Error::InvalidConfig(format!("an image has 3 channels, not {}", input.c)));
        }
        for px in input.data.chunks_exact_mut(3) {
            for (v, m) in px.iter_mut().zip(MEAN_RGB) {
                *v -= m;
            }
        }
        let mut outputs: Vec<Map> = Vec::with_capacity(deepest as usize + 1);
        for (spec, convs) in VGG16.iter().zip(&self.layers).take(deepest as usize + 1) {
            let previous = outputs.last().unwrap_or(&input);
            let pooled;
            let h = if spec.pool_before {
                pooled = pool(previous, pooling);
                &pooled
            } else {
                previous
            };
            let mut chain = convs.iter();
            let first = chain.next().ok_or_else(|| Error::InvalidConfig(format!("{} has no convolution", spec.name)))?;
            let mut out = convolve(h, &first.forward, first.k, first.cout, Some(&first.bias));
            for conv in chain {
                out = convolve(&out, &conv.forward, conv.k, conv.cout, Some(&conv.bias));
            }
            // ReLU, NaN kept (as burn's): a diverged image must read as one. A select, not a
            // branch: half the values are negative, in no order a branch predictor could learn.
            let c = out.c;
            each_chunk(&mut out.data, (ROWS_PER_TASK * out.w * c).max(1), |_, part| {
                part.iter_mut().for_each(|v| *v = if *v < 0.0 { 0.0 } else { *v })
            });
            outputs.push(out);
        }
        Ok(Tape { input, outputs, pooling })
    }

    /// The gradient, planar `[1, 3, H, W]`, with respect to the image of Σ ⟨g_l, output_l⟩ for
    /// the gradients `grads` at the layers' outputs (each the shape of its output in `tape`).
    pub fn backward(&self, tape: &Tape, grads: Vec<(Layer, Map)>, device: &Device) -> Result<Tensor<4>> {
        let mut at_layer: Vec<Option<Map>> = vec![None; tape.outputs.len()];
        for (layer, g) in grads {
            let out = tape.output(layer).ok_or_else(|| Error::InvalidConfig(format!("no output kept at {layer}")))?;
            if (g.h, g.w, g.c) != (out.h, out.w, out.c) {
                return Err(Error::InvalidConfig(format!("a gradient at {layer} of the wrong shape")));
            }
            add_into(&mut at_layer[layer as usize], g);
        }
        let mut g: Option<Map> = None;
        for l in (0..tape.outputs.len()).rev() {
            if let Some(gl) = at_layer[l].take() {
                add_into(&mut g, gl);
            }
            let Some(mut gm) = g.take() else { continue };
            let (y, part) = (&tape.outputs[l].data, (ROWS_PER_TASK * gm.w * gm.c).max(1));
            each_chunk(&mut gm.data, part, |i, d| {
                d.iter_mut().zip(&y[i * part..]).for_each(|(d, y)| *d = if *y <= 0.0 { 0.0 } else { *d })
            });
            for conv in self.layers[l].iter().rev() {
                gm = convolve(&gm, &conv.adjoint, conv.k, conv.cin, None);
            }
            if VGG16[l].pool_before {
                let before = if l == 0 { &tape.input } else { &tape.outputs[l - 1] };
                gm = unpool(&gm, before, tape.pooling);
            }
            g = Some(gm);
        }
        let (h, w) = (tape.input.h, tape.input.w);
        Ok(g.unwrap_or_else(|| Map { h, w, c: 3, data: vec![0.0; h * w * 3] }).to_tensor(device))
    }
}

/// `g` added into `slot`, or put there if it is empty.
pub fn add_into(slot: &mut Option<Map>, g: Map) {
    match slot {
        Some(s) => s.data.iter_mut().zip(&g.data).for_each(|(a, b)| *a += b),
        None => *slot = Some(g),
    }
}

/// `f(i, chunk)` for each chunk `i` of `data` of `len` floats, on every core where the build has
/// threads.
fn each_chunk(data: &mut [f32], len: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    #[cfg(any(not(target_family = "wasm"), feature = "threads"))]
    {
        use rayon::prelude::*;
        data.par_chunks_mut(len).enumerate().for_each(|(i, c)| f(i, c));
    }
    #[cfg(not(any(not(target_family = "wasm"), feature = "threads")))]
    data.chunks_mut(len).enumerate().for_each(|(i, c)| f(i, c));
}

/// Rows of a map per task of an element-wise pass.
const ROWS_PER_TASK: usize = 8;

/// How many threads a product may use: every core where the build has threads.
fn parallelism() -> gemm::Parallelism {
    #[cfg(any(not(target_family = "wasm"), feature = "threads"))]
    return gemm::Parallelism::Rayon(0);
    #[cfg(not(any(not(target_family = "wasm"), feature = "threads")))]
    gemm::Parallelism::None
}

/// `dst[m×n] (+)= lhs[m×k]·rhs[k×n]`, `rhs` and `dst` row-major, `lhs` read from `lhs_at` with
/// its rows `lhs_rs` and its columns `lhs_cs` floats apart. `accumulate`: add to `dst` rather
/// than overwrite it.
#[allow(clippy::too_many_arguments)]
fn product(m: usize, k: usize, n: usize, lhs: &[f32], lhs_at: usize, (lhs_rs, lhs_cs): (usize, usize), rhs: &[f32], dst: &mut [f32], accumulate: bool) {
    product_on(m, k, n, lhs, lhs_at, (lhs_rs, lhs_cs), rhs, dst, accumulate, parallelism())
}

/// [`product`] with the given parallelism.
#[allow(clippy::too_many_arguments)]
fn product_on(m: usize, k: usize, n: usize, lhs: &[f32], lhs_at: usize, (lhs_rs, lhs_cs): (usize, usize), rhs: &[f32], dst: &mut [f32], accumulate: bool, parallelism: gemm::Parallelism) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(k == 0 || lhs_at + (m - 1) * lhs_rs + (k - 1) * lhs_cs < lhs.len(), "lhs out of bounds");
    assert!(rhs.len() >= k * n && dst.len() >= m * n, "rhs or dst out of bounds");
    // SAFETY: the bounds are checked above; gemm reads lhs and rhs and writes dst within them.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr().add(lhs_at),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// The Gram matrix `FᵀF` (`c×c`) of a map `F` (`positions × c`): [`crate::loss::gram`]'s value.
pub fn gram(f: &Map) -> Vec<f32> {
    let mut g = vec![0f32; f.c * f.c];
    product(f.c, f.h * f.w, f.c, &f.data, 0, (1, f.c), &f.data, &mut g, false);
    g
}

/// `F·M` for a map `F` and a `c×c` matrix `M`: with `M = 2·∂E/∂G` (symmetric), the gradient of
/// a loss E of the Gram matrix `FᵀF` with respect to `F`.
pub fn times(f: &Map, m: &[f32]) -> Map {
    let mut out = vec![0f32; f.data.len()];
    product(f.h * f.w, f.c, f.c, &f.data, 0, (f.c, 1), m, &mut out, false);
    Map { h: f.h, w: f.w, c: f.c, data: out }
}

/// Below this many output channels a 3×3 convolution multiplies first and gathers the nine
/// shifted products after (the image's gradient, 3 channels): a product with only `cout`
/// columns wastes most of each vector.
const FEW_CHANNELS: usize = 8;

/// Up to this many input channels a 3×3 convolution stacks each pixel's neighbourhood (im2col)
/// into one product of depth 9·c, in bands of [`STACK_BAND`] pixels; above it, three products of
/// depth 3·c over the padded map are as fast without the 9·c-wide stack. Measured on the
/// teacher's shapes at 256 px (BENCHMARKS.md, "The CPU engine's own pass").
const STACKED_CHANNELS: usize = 128;

/// Pixels per band of a stacked convolution: its stack (9·c floats a pixel, 2.3 MB at c = 64)
/// stays near a core's cache.
const STACK_BAND: usize = 1024;

/// `x` convolved ("same" padding, stride 1) with `weights` laid out as [`HostConv::forward`]
/// (`k·k·x.c` rows, `cout` columns), plus `bias`.
fn convolve(x: &Map, weights: &[f32], k: usize, cout: usize, bias: Option<&[f32]>) -> Map {
    let (h, w, c) = (x.h, x.w, x.c);
    let mut out = vec![0f32; h * w * cout];
    if k == 1 {
        product(h * w, c, cout, &x.data, 0, (c, 1), weights, &mut out, false);
    } else if cout < FEW_CHANNELS {
        // z[p][t·cout + o] = Σ_ch x[p][ch]·W[t][ch][o]; out[q] = Σ_t z[q + offset_t][t].
        let mut by_tap = vec![0f32; c * 9 * cout];
        for t in 0..9 {
            for ch in 0..c {
                for o in 0..cout {
                    by_tap[ch * 9 * cout + t * cout + o] = weights[(t * c + ch) * cout + o];
                }
            }
        }
        let mut z = vec![0f32; h * w * 9 * cout];
        product(h * w, c, 9 * cout, &x.data, 0, (c, 1), &by_tap, &mut z, false);
        for y in 0..h {
            for xx in 0..w {
                let dst = &mut out[(y * w + xx) * cout..(y * w + xx + 1) * cout];
                for (t, (dy, dx)) in TAPS.iter().enumerate() {
                    if let Some(i) = neighbour(y, xx, *dy, *dx, h, w) {
                        let src = &z[i * 9 * cout + t * cout..i * 9 * cout + (t + 1) * cout];
                        dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                    }
                }
            }
        }
    } else if c <= STACKED_CHANNELS {
        // In bands of pixels, each on one core: the band's stack of 3×3 neighbourhoods (one row
        // per pixel, (ky, kx, channel) order; 3·c consecutive floats per kernel row), then one
        // product.
        let band = STACK_BAND;
        each_chunk(&mut out, band * cout, |i, dst| {
            let p0 = i * band;
            let n = dst.len() / cout;
            let mut stack = vec![0f32; n * 9 * c];
            for (j, row) in stack.chunks_exact_mut(9 * c).enumerate() {
                let (y, xx) = ((p0 + j) / w, (p0 + j) % w);
                for ky in 0..3 {
                    let Some(yy) = (y + ky).checked_sub(1).filter(|yy| *yy < h) else { continue };
                    let (x0, x1) = (xx.saturating_sub(1), (xx + 2).min(w));
                    let at = (x0 + 1 - xx) * c + ky * 3 * c;
                    row[at..at + (x1 - x0) * c].copy_from_slice(&x.data[(yy * w + x0) * c..(yy * w + x1) * c]);
                }
            }
            product_on(n, 9 * c, cout, &stack, 0, (9 * c, 1), weights, dst, false, gemm::Parallelism::None);
        });
    } else {
        // Zero-padded by one pixel on every side, plus two at the end, which the last row's
        // products read for their two dropped columns.
        let wp = w + 2;
        let mut padded = vec![0f32; ((h + 2) * wp + 2) * c];
        for y in 0..h {
            let dst = ((y + 1) * wp + 1) * c;
            padded[dst..dst + w * c].copy_from_slice(&x.data[y * w * c..(y + 1) * w * c]);
        }
        // Output at padded-width positions r = y·wp + x (x < wp; the last two columns of each
        // row are wrap-around values, dropped): row ky of the kernel reads 3·c consecutive
        // floats from padded pixel r + ky·wp on, so the left-hand matrix is `padded` itself with
        // rows c floats apart.
        let mut wide = vec![0f32; h * wp * cout];
        for ky in 0..3 {
            let rows = &weights[ky * 3 * c * cout..(ky + 1) * 3 * c * cout];
            product(h * wp, 3 * c, cout, &padded, ky * wp * c, (c, 1), rows, &mut wide, ky > 0);
        }
        for y in 0..h {
            out[y * w * cout..(y + 1) * w * cout].copy_from_slice(&wide[y * wp * cout..(y * wp + w) * cout]);
        }
    }
    if let Some(b) = bias {
        each_chunk(&mut out, (ROWS_PER_TASK * w * cout).max(1), |_, part| {
            part.chunks_exact_mut(cout).for_each(|px| px.iter_mut().zip(b).for_each(|(v, b)| *v += b))
        });
    }
    Map { h, w, c: cout, data: out }
}

/// A 3×3 kernel's taps, (ky, kx) − 1 in row-major order: the order of its weights' rows.
const TAPS: [(isize, isize); 9] = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 0), (0, 1), (1, -1), (1, 0), (1, 1)];

/// The index of pixel (y + dy, x + dx) of an `h`×`w` map, if it is inside.
fn neighbour(y: usize, x: usize, dy: isize, dx: isize, h: usize, w: usize) -> Option<usize> {
    let (yy, xx) = (y.checked_add_signed(dy)?, x.checked_add_signed(dx)?);
    (yy < h && xx < w).then_some(yy * w + xx)
}

/// 2×2 pooling with stride 2, odd last rows and columns dropped (burn's, and VGG's).
fn pool(x: &Map, pooling: Pooling) -> Map {
    let (h, w, c) = (x.h / 2, x.w / 2, x.c);
    let mut out = vec![0f32; h * w * c];
    each_chunk(&mut out, (w * c).max(1), |y, row| {
        for (xx, dst) in row.chunks_exact_mut(c).enumerate() {
            let [a, b, cc, d] = window(x, y, xx).map(|i| &x.data[i..i + c]);
            for (i, v) in dst.iter_mut().enumerate() {
                *v = match pooling {
                    Pooling::Avg => (a[i] + b[i] + cc[i] + d[i]) * 0.25,
                    Pooling::Max => nan_max(nan_max(a[i], b[i]), nan_max(cc[i], d[i])),
                };
            }
        }
    });
    Map { h, w, c, data: out }
}

/// The larger of two values, NaN if either is (`f32::max` would drop it).
fn nan_max(a: f32, b: f32) -> f32 {
    if a.is_nan() || a >= b { a } else { b }
}

/// Where the four inputs of output pixel (y, x) of a 2×2 pooling of `x` start.
fn window(x: &Map, y: usize, xx: usize) -> [usize; 4] {
    let at = |dy: usize, dx: usize| ((2 * y + dy) * x.w + 2 * xx + dx) * x.c;
    [at(0, 0), at(0, 1), at(1, 0), at(1, 1)]
}

/// The gradient through [`pool`]: to the pooled map `before` from `g` at its output. Max pooling
/// sends each gradient to the first of the window's largest inputs.
fn unpool(g: &Map, before: &Map, pooling: Pooling) -> Map {
    let c = g.c;
    let row = before.w * c;
    let mut out = vec![0f32; before.h * row];
    // Two rows of `before` per row of `g` (an odd last row gets no gradient).
    each_chunk(&mut out, (2 * row).max(1), |y, rows| {
        if y >= g.h || rows.len() < 2 * row {
            return;
        }
        for xx in 0..g.w {
            let d = &g.data[(y * g.w + xx) * c..(y * g.w + xx + 1) * c];
            let corners = window(before, y, xx);
            let local = corners.map(|i| i - 2 * y * row);
            match pooling {
                Pooling::Avg => {
                    for at in local {
                        rows[at..at + c].iter_mut().zip(d).for_each(|(o, d)| *o += 0.25 * d);
                    }
                }
                Pooling::Max => {
                    for (ch, d) in d.iter().enumerate() {
                        let mut best = 0;
                        for k in 1..4 {
                            if before.data[corners[k] + ch] > before.data[corners[best] + ch] {
                                best = k;
                            }
                        }
                        rows[local[best] + ch] += d;
                    }
                }
            }
        }
    });
    Map { h: before.h, w: before.w, c, data: out }
}
