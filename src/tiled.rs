//! The losses and the image gradient of a large image computed tile by tile, exactly.
//!
//! Why: at 4096×3072 conv1_1 alone is 805 M activations (3.2 GB in one buffer), and burn 0.22's
//! wgpu kernels failed there on an H200 with memory to spare (BENCHMARKS.md). Tiles keep every
//! tensor the size of a tile's, whatever the image's size (the CLI's 4096 px).
//!
//! How, and why it is exact (not an approximation, unlike overlap-and-blend tiling):
//! - **Features.** A feature at conv5_1 depends on the pixels within 58 px of its 16×16 cell
//!   ([`receptive_halo`]). A tile is a *core* (a block of the image, its edges on multiples of
//!   [`ALIGN`] = 16 so the four 2×2 poolings line up with the whole image's) plus a [`HALO`] of 64
//!   px of context on each side (cut at the image's border, where the whole image is zero-padded
//!   the same way). The features of a tile's core are then the whole image's features there, and
//!   the cores partition every layer's positions.
//! - **Losses.** The content loss is a sum over positions, so it is the sum of the cores' sums.
//!   A Gram matrix `G = Σ_positions f fᵀ` is the sum of the cores' Gram matrices.
//! - **Gradient.** The style loss `E(G) = s²·Σ(G−A)²` is not a sum over tiles, but its gradient
//!   is: with `C = ∂E/∂G = 2s²(G−A)` from a first, forward-only pass over all tiles, the gradient
//!   of `Σ_tiles ⟨C, G_tile⟩` (C held constant) is the gradient of E. A second pass backpropagates
//!   that per tile and adds each tile's image gradient (halo included) into the whole image's.
//!
//! Cost: two forward passes and one backward pass per tile, plus the halo's overlap: about
//! 1.3–1.6× the whole-image iteration at the tile sizes used, paid only for images too large to
//! take whole ([`crate::budget::AUTO_TILE_PIXELS`]).

use std::ops::Range;

use burn::tensor::{Device, Tensor};

use crate::device::host_f32;
use crate::host::{HostVgg, Map, add_into, times};

use crate::error::{Error, Result};
use crate::loss::{
    CONTENT_LAYER, LOSS_LAYERS, LossParts, LossWeights, STYLE_LAYERS, add_to, blend_grams, content_scale, content_sum, gram,
    image_terms, style_layer_gram_gradient, style_layer_loss,
};
use crate::vgg::{Layer, Pooling, VGG16, Vgg, pools_before, spatial};

/// The image is tiled on multiples of 16 px: the poolings before conv5_1 (four 2×2) then cut
/// every tile's feature maps where they cut the whole image's.
pub const ALIGN: usize = 16;

/// Context around a tile's core: [`receptive_halo`] (58 px) rounded up to [`ALIGN`].
pub const HALO: usize = 64;

/// A padded tile's side for a core of `core` px: [`HALO`] on each side.
pub fn padded_side(core: usize) -> usize {
    core + 2 * HALO
}

/// How far (in input pixels) the deepest loss layer's features reach beyond their own cell on
/// each side: each 3×3 convolution adds one position of its layer (`2^pools` pixels) per side.
/// VGG16 to conv5_1: 2·1 + 2·2 + 3·4 + 3·8 + 1·16 = 58.
pub fn receptive_halo(deepest: Layer) -> usize {
    VGG16[..=deepest as usize].iter().map(|spec| 1usize << pools_before(spec.layer)).sum()
}

/// A half-open range of pixels `[start, end)` along one axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First pixel.
    pub start: usize,
    /// One past the last pixel.
    pub end: usize,
}

/// One tile: the core it accounts for and the padded region it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    /// Columns the tile accounts for.
    pub core_x: Span,
    /// Rows the tile accounts for.
    pub core_y: Span,
    /// Columns it reads: the core with [`HALO`] more on each side, within the image.
    pub padded_x: Span,
    /// Rows it reads.
    pub padded_y: Span,
}

/// Cut `0..length` into about `length / core` cores with edges on multiples of [`ALIGN`], each
/// with its padded span.
fn spans(length: usize, core: usize) -> Vec<(Span, Span)> {
    let count = length.div_ceil(core.max(ALIGN)).max(1);
    let mut edges: Vec<usize> = (0..=count).map(|i| (i * length / count) / ALIGN * ALIGN).collect();
    edges[count] = length;
    edges.dedup();
    edges
        .windows(2)
        .map(|e| {
            let core = Span { start: e[0], end: e[1] };
            let padded = Span { start: e[0].saturating_sub(HALO), end: (e[1] + HALO).min(length) };
            (core, padded)
        })
        .collect()
}

/// The tiles of a `width`×`height` image with cores of about `core`×`core` pixels (at least
/// [`ALIGN`]), row by row.
pub fn tiles(width: usize, height: usize, core: usize) -> Vec<Tile> {
    let xs = spans(width, core);
    spans(height, core)
        .into_iter()
        .flat_map(|(core_y, padded_y)| {
            xs.iter().map(move |&(core_x, padded_x)| Tile { core_x, core_y, padded_x, padded_y })
        })
        .collect()
}

/// The part of a tile's feature map `f` (at `layer`) that belongs to its core, or `None` where the
/// core has no position at that layer (a core narrower than the layer's cell at the image's
/// edge: the whole image's map, rounded down, has none there either).
fn core_of(f: Tensor<4>, layer: Layer, tile: &Tile) -> Option<Tensor<4>> {
    let [_, c, fh, fw] = f.dims();
    let (ys, xs) = core_range(layer, tile, fh, fw)?;
    Some(f.slice([0..1, 0..c, ys, xs]))
}

/// The rows and columns of a tile's core in its `fh`×`fw` feature map at `layer`.
fn core_range(layer: Layer, tile: &Tile, fh: usize, fw: usize) -> Option<(Range<usize>, Range<usize>)> {
    let p = pools_before(layer);
    let range = |core: Span, padded: Span, size: usize| {
        let offset = padded.start >> p;
        let start = (core.start >> p) - offset;
        let end = ((core.end >> p) - offset).min(size);
        (start < end).then_some(start..end)
    };
    Some((range(tile.core_y, tile.padded_y, fh)?, range(tile.core_x, tile.padded_x, fw)?))
}

/// The position of `layer` in [`STYLE_LAYERS`], if it is a style layer.
fn style_index(layer: Layer) -> Option<usize> {
    STYLE_LAYERS.iter().position(|(l, _)| *l == layer)
}

/// A layer's number of channels (every model has the teacher's at the loss layers).
fn channels(layer: Layer) -> usize {
    VGG16[layer as usize].out_channels
}

fn crop(x: &Tensor<4>, tile: &Tile) -> Tensor<4> {
    let [b, c, _, _] = x.dims();
    x.clone().slice([0..b, 0..c, tile.padded_y.start..tile.padded_y.end, tile.padded_x.start..tile.padded_x.end])
}

/// Gram matrices at [`STYLE_LAYERS`] of an image (`[1, 3, H, W]`), summed over its tiles, each
/// with the layer's number of positions.
pub fn grams(model: &Vgg, x: &Tensor<4>, core: usize, pooling: Pooling) -> Vec<(Tensor<2>, usize)> {
    let [_, _, h, w] = x.dims();
    let layers: Vec<Layer> = STYLE_LAYERS.iter().map(|(l, _)| *l).collect();
    let mut sums: Vec<Option<Tensor<2>>> = vec![None; layers.len()];
    for tile in tiles(w, h, core) {
        for ((slot, f), layer) in sums.iter_mut().zip(model.features(crop(x, &tile), &layers, pooling)).zip(&layers) {
            if let Some(f) = core_of(f, *layer, &tile) {
                add_to(slot, gram(f));
            }
        }
    }
    sums.into_iter()
        .zip(&layers)
        .map(|(g, layer)| {
            let (fh, fw) = spatial(*layer, h, w);
            let n = channels(*layer);
            (g.unwrap_or_else(|| Tensor::zeros([n, n], &x.device())), fh * fw)
        })
        .collect()
}

/// What a tiled run's output is compared with: the content's conv4_2 features of each tile's
/// core, and the blended Gram targets ([`crate::loss::Targets::blend`], computed by tiles).
#[derive(Clone, Debug)]
pub struct TiledTargets {
    /// The content's tiles (the output has the content's size).
    pub tiles: Vec<Tile>,
    /// P of each tile's core (`None` where the core has no conv4_2 position).
    pub content: Vec<Option<Tensor<4>>>,
    /// Number of elements of the whole P.
    pub content_elements: usize,
    /// The blended Gram target at each of [`STYLE_LAYERS`].
    pub grams: Vec<Tensor<2>>,
    /// The content's width.
    pub width: usize,
    /// The content's height.
    pub height: usize,
}

impl TiledTargets {
    /// Targets for `content` (`[1, 3, H, W]`) and a blend of styles, with cores of `core` px.
    pub fn blend(model: &Vgg, content: &Tensor<4>, styles: &[(Tensor<4>, f32)], pooling: Pooling, core: usize) -> Self {
        let [_, _, h, w] = content.dims();
        let tiles = tiles(w, h, core);
        let content_features = tiles
            .iter()
            .map(|tile| {
                let f = model.features(crop(content, tile), &[CONTENT_LAYER], pooling).remove(0);
                core_of(f, CONTENT_LAYER, tile)
            })
            .collect();
        let (ch, cw) = spatial(CONTENT_LAYER, h, w);
        let grams = blend_grams(styles, h, w, |style| grams(model, style, core, pooling));
        TiledTargets {
            tiles,
            content: content_features,
            content_elements: channels(CONTENT_LAYER) * ch * cw,
            grams,
            width: w,
            height: h,
        }
    }
}

/// The losses of `x` (plain device, `[1, 3, H, W]`) and the gradient of the total with respect
/// to `x`, tile by tile: the same values as [`crate::stylize::loss_and_gradient`] on the whole
/// image (see the module's documentation), with every tensor the size of a tile's.
pub fn loss_and_gradient(
    model: &Vgg,
    targets: &TiledTargets,
    x: Tensor<4>,
    weights: LossWeights,
    pooling: Pooling,
) -> Result<(LossParts, Tensor<4>)> {
    let device = x.device();
    let [_, _, h, w] = x.dims();
    if (w, h) != (targets.width, targets.height) {
        return Err(Error::InvalidConfig(format!(
            "the image is {w}x{h}, the targets {}x{}",
            targets.width, targets.height
        )));
    }
    let content_norm = content_scale(targets.content_elements);

    // Pass 1, forward only: the whole image's Gram matrices and content loss.
    let mut grams: Vec<Option<Tensor<2>>> = vec![None; STYLE_LAYERS.len()];
    let mut content_total: Option<Tensor<1>> = None;
    for (tile, p) in targets.tiles.iter().zip(&targets.content) {
        for (layer, f) in LOSS_LAYERS.iter().zip(model.features(crop(&x, tile), &LOSS_LAYERS, pooling)) {
            let Some(f) = core_of(f, *layer, tile) else { continue };
            if *layer == CONTENT_LAYER
                && let Some(p) = p
            {
                add_to(&mut content_total, content_sum(f.clone(), p.clone()));
            }
            if let Some(i) = style_index(*layer) {
                add_to(&mut grams[i], gram(f));
            }
        }
    }
    let content = content_total.unwrap_or_else(|| Tensor::zeros([1], &device)).mul_scalar(content_norm);

    // The style terms and C_l = ∂(β·w_l·E_l)/∂G_l.
    let mut style_layers = Vec::with_capacity(STYLE_LAYERS.len());
    let mut coefficients = Vec::with_capacity(STYLE_LAYERS.len());
    for ((g, a), (layer, lw)) in grams.into_iter().zip(&targets.grams).zip(&STYLE_LAYERS) {
        let n = channels(*layer);
        let (fh, fw) = spatial(*layer, h, w);
        let g = g.unwrap_or_else(|| Tensor::zeros([n, n], &device));
        style_layers.push(style_layer_loss(g.clone(), a.clone(), n, fh * fw).mul_scalar(*lw));
        coefficients.push(style_layer_gram_gradient(g, a.clone(), n, fh * fw).mul_scalar(weights.style * lw));
    }
    let style = style_layers.iter().cloned().reduce(|a, b| a + b).expect("five style layers");

    // Pass 2: per tile, backpropagate Σ_l ⟨C_l, G_l(core)⟩ + α·content(core) to the tile; by
    // the CPU engine's own pass where the model takes it.
    let host = match model.host() {
        // With the doubled C_l on the host: F·(C_l + C_lᵀ) is a style layer's gradient.
        Some(host) if device == Device::flex() => {
            let doubled = coefficients.iter().map(|c| host_f32(c.clone().mul_scalar(2.0).into_data())).collect::<Result<Vec<_>>>()?;
            Some((host?, doubled))
        }
        _ => None,
    };
    let mut gradient: Tensor<4> = Tensor::zeros([1, 3, h, w], &device);
    for (tile, p) in targets.tiles.iter().zip(&targets.content) {
        let g = match &host {
            Some((host, doubled)) => host_tile_gradient(host, &x, tile, p.as_ref(), doubled, weights, content_norm, pooling)?,
            None => autodiff_tile_gradient(model, &x, tile, p.as_ref(), &coefficients, weights, content_norm, pooling)?,
        };
        let Some(g) = g else { continue };
        let region = [0..1, 0..3, tile.padded_y.start..tile.padded_y.end, tile.padded_x.start..tile.padded_x.end];
        let sum = gradient.clone().slice(region.clone()) + g;
        gradient = gradient.slice_assign(region, sum);
    }

    let mut parts = LossParts::new(weights, content, style, style_layers);
    if let Some((terms, g)) = image_terms(&x, weights)? {
        for (term, weight, value) in terms {
            parts.add(term, weight, value);
        }
        gradient = gradient + g;
    }
    Ok((parts, gradient))
}

/// The gradient, on `tile`'s padded crop of `x`, of Σ_l ⟨C_l, G_l(core)⟩ + α·content(core)
/// (`coefficients`: the C_l), by autodiff; none where the tile has no term.
#[allow(clippy::too_many_arguments)]
fn autodiff_tile_gradient(
    model: &Vgg,
    x: &Tensor<4>,
    tile: &Tile,
    p: Option<&Tensor<4>>,
    coefficients: &[Tensor<2>],
    weights: LossWeights,
    content_norm: f32,
    pooling: Pooling,
) -> Result<Option<Tensor<4>>> {
    let xa = crop(x, tile).autodiff().require_grad();
    let mut surrogate: Option<Tensor<1>> = None;
    for (layer, f) in LOSS_LAYERS.iter().zip(model.features(xa.clone(), &LOSS_LAYERS, pooling)) {
        let Some(f) = core_of(f, *layer, tile) else { continue };
        if *layer == CONTENT_LAYER
            && weights.content != 0.0
            && let Some(p) = p
        {
            // P and C are constants on the plain device, as the targets in `losses`.
            add_to(&mut surrogate, content_sum(f.clone(), p.clone()).mul_scalar(weights.content * content_norm));
        }
        if let Some(i) = style_index(*layer)
            && weights.style != 0.0
        {
            add_to(&mut surrogate, (gram(f) * coefficients[i].clone()).sum());
        }
    }
    let Some(surrogate) = surrogate else { return Ok(None) };
    let grads = surrogate.backward();
    let g = xa
        .grad(&grads)
        .ok_or_else(|| Error::Device("the backend returned no image gradient".into()))?
        .without_autodiff();
    Ok(Some(g))
}

/// [`autodiff_tile_gradient`] by the CPU engine's own pass: the gradients at the loss layers'
/// cores written out (2·α·s·(F − P) for the content, F·(C_l + C_lᵀ) = F·`doubled[l]` for a style
/// layer) and carried back by [`HostVgg::backward`].
#[allow(clippy::too_many_arguments)]
fn host_tile_gradient(
    host: &HostVgg,
    x: &Tensor<4>,
    tile: &Tile,
    p: Option<&Tensor<4>>,
    doubled: &[Vec<f32>],
    weights: LossWeights,
    content_norm: f32,
    pooling: Pooling,
) -> Result<Option<Tensor<4>>> {
    let deepest = LOSS_LAYERS.iter().copied().max().expect("loss layers");
    let tape = host.forward(crop(x, tile), deepest, pooling)?;
    let mut grads = Vec::with_capacity(LOSS_LAYERS.len());
    for layer in LOSS_LAYERS {
        let f = tape.output(layer).ok_or_else(|| Error::InvalidConfig(format!("the pass stopped before {layer}")))?;
        let Some((ys, xs)) = core_range(layer, tile, f.h, f.w) else { continue };
        let core = f.crop(ys.clone(), xs.clone());
        let mut d: Option<Map> = None;
        if layer == CONTENT_LAYER
            && weights.content != 0.0
            && let Some(p) = p
        {
            let p = Map::from_tensor(p.clone())?;
            if (p.h, p.w, p.c) != (core.h, core.w, core.c) {
                return Err(Error::InvalidConfig(format!("a content target of {}×{} at a core of {}×{}", p.w, p.h, core.w, core.h)));
            }
            let s = 2.0 * weights.content * content_norm;
            let data = core.data.iter().zip(&p.data).map(|(f, p)| s * (f - p)).collect();
            d = Some(Map { data, ..core.clone() });
        }
        if let Some(i) = style_index(layer)
            && weights.style != 0.0
        {
            add_into(&mut d, times(&core, &doubled[i]));
        }
        if let Some(d) = d {
            grads.push((layer, f.embed(&d, ys, xs)));
        }
    }
    if grads.is_empty() {
        return Ok(None);
    }
    Ok(Some(host.backward(&tape, grads, &x.device())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_halo_covers_conv5_1s_reach_and_is_aligned() {
        assert_eq!(receptive_halo(Layer::Conv5_1), 58);
        assert!(HALO >= receptive_halo(Layer::Conv5_1));
        assert_eq!(HALO % ALIGN, 0);
    }

    #[test]
    fn tiles_partition_the_image_on_aligned_edges() {
        for (w, h, core) in [(4096, 3072, 1024), (1000, 37, 128), (17, 300, 16), (100, 100, 1000), (4097, 2049, 512)] {
            let tiles = tiles(w, h, core);
            let mut covered = vec![0u8; w * h];
            for t in &tiles {
                for edge in [t.core_x.start, t.core_y.start] {
                    assert_eq!(edge % ALIGN, 0, "{w}x{h} core {core}: {t:?}");
                }
                assert!(t.core_x.end == w || t.core_x.end % ALIGN == 0);
                assert!(t.padded_x.start == t.core_x.start.saturating_sub(HALO));
                assert!(t.padded_y.end == (t.core_y.end + HALO).min(h));
                assert!(t.core_x.end > t.core_x.start && t.core_y.end > t.core_y.start);
                for y in t.core_y.start..t.core_y.end {
                    for x in t.core_x.start..t.core_x.end {
                        covered[y * w + x] += 1;
                    }
                }
            }
            assert!(covered.iter().all(|&c| c == 1), "{w}x{h} core {core}: every pixel in exactly one core");
        }
        assert_eq!(tiles(4096, 3072, 1024).len(), 12);
    }
}
