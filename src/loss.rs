//! The Gatys losses as taught in Stanford CS20 (assignment 2, `style_transfer.py`), as small
//! composable pieces.

use burn::tensor::Tensor;

use crate::vgg::{Layer, Pooling, Vgg};

/// The content layer: conv4_2 (Gatys et al. 2016; CS20).
pub const CONTENT_LAYER: Layer = Layer::Conv4_2;

/// Style layers and their weights (CS20: `[0.5, 1.0, 1.5, 3.0, 4.0]`; Gatys et al. weight the
/// same layers equally, CS20 leans on the deeper ones).
pub const STYLE_LAYERS: [(Layer, f32); 5] = [
    (Layer::Conv1_1, 0.5),
    (Layer::Conv2_1, 1.0),
    (Layer::Conv3_1, 1.5),
    (Layer::Conv4_1, 3.0),
    (Layer::Conv5_1, 4.0),
];

/// Every layer a loss evaluation needs, in network order: the five style layers with conv4_2
/// between conv4_1 and conv5_1.
pub const LOSS_LAYERS: [Layer; 6] =
    [Layer::Conv1_1, Layer::Conv2_1, Layer::Conv3_1, Layer::Conv4_1, Layer::Conv4_2, Layer::Conv5_1];

/// Weights of the three terms of the total loss.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossWeights {
    /// α, CS20: 0.01.
    pub content: f32,
    /// β, CS20: 1.
    pub style: f32,
    /// γ, total variation; CS20 has none (0).
    pub tv: f32,
}

impl Default for LossWeights {
    fn default() -> Self {
        LossWeights { content: 0.01, style: 1.0, tv: 0.0 }
    }
}

/// The Gram matrix of one image's features `[1, N, H, W]`: `G = F Fᵀ` with `F` of shape `[N, M]`,
/// `M = H·W`. Not normalised: the normalisation is in [`style_layer_loss`], as in CS20.
pub fn gram(features: Tensor<4>) -> Tensor<2> {
    let [b, n, h, w] = features.dims();
    debug_assert_eq!(b, 1, "one image at a time");
    let f = features.reshape([n, h * w]);
    f.clone().matmul(f.transpose())
}

/// Content loss Σ(F−P)²/(4·|P|), `|P|` the number of elements of P (CS20 `_create_content_loss`;
/// Gatys et al. use ½Σ(F−P)²).
pub fn content_loss(f: Tensor<4>, p: Tensor<4>) -> Tensor<1> {
    let count = p.shape().num_elements() as f32;
    (f - p).square().sum().div_scalar(4.0 * count)
}

/// One layer's style loss E = Σ(G−A)²/(2·N·M)² (Gatys et al. eq. 4; CS20 `_single_style_loss`).
/// The difference is scaled before squaring: the same value, and no overflow of `f32` for large
/// images, whose raw Gram entries reach 1e10.
pub fn style_layer_loss(g: Tensor<2>, a: Tensor<2>, n: usize, m: usize) -> Tensor<1> {
    let scale = 1.0 / (2.0 * n as f32 * m as f32);
    (g - a).mul_scalar(scale).square().sum()
}

/// Total variation Σ(x[i,j+1]−x[i,j])² + Σ(x[i+1,j]−x[i,j])² over channels, on the 0..255 scale
/// (the squared form, β = 2 of Mahendran & Vedaldi 2015; CS20 has no TV term).
pub fn tv_loss(x: Tensor<4>) -> Tensor<1> {
    let [_, _, h, w] = x.dims();
    let dx = x.clone().narrow(3, 1, w - 1) - x.clone().narrow(3, 0, w - 1);
    let dy = x.clone().narrow(2, 1, h - 1) - x.narrow(2, 0, h - 1);
    dx.square().sum() + dy.square().sum()
}

/// What the output is compared with, computed once per run.
#[derive(Clone, Debug)]
pub struct Targets {
    /// P: the content image's conv4_2 features.
    pub content: Tensor<4>,
    /// A: the style image's Gram matrix at each of [`STYLE_LAYERS`], in that order.
    pub grams: Vec<Tensor<2>>,
}

impl Targets {
    /// Targets from a content and a style image (each `[1, 3, H, W]`, 0..255): a blend of one
    /// ([`Targets::blend`]), so a style image of another size is put on the content's scale.
    pub fn new(model: &Vgg, content: Tensor<4>, style: Tensor<4>, pooling: Pooling) -> Targets {
        Targets::blend(model, content, &[(style, 1.0)], pooling)
    }

    /// Targets for a blend of styles (jcjohnson/neural-style `-style_blend_weights`): the Gram
    /// target of each layer is Σᵢ wᵢ·Aᵢ·(M/Mᵢ) / Σᵢ wᵢ, where `Mᵢ` is style i's number of positions
    /// at that layer and `M` the content's, so that styles of any size mix on the output's scale.
    /// With one style of the content's size, the Gram matrix is the style's own (scaled by 1).
    pub fn blend(model: &Vgg, content: Tensor<4>, styles: &[(Tensor<4>, f32)], pooling: Pooling) -> Targets {
        let [_, _, h, w] = content.dims();
        let content = model.features(content, &[CONTENT_LAYER], pooling).remove(0);
        let grams = blend_grams(styles, h, w, |style| {
            let style_layers: Vec<Layer> = STYLE_LAYERS.iter().map(|(l, _)| *l).collect();
            model
                .features(style.clone(), &style_layers, pooling)
                .into_iter()
                .map(|f| {
                    let [_, _, fh, fw] = f.dims();
                    (gram(f), fh * fw)
                })
                .collect()
        });
        Targets { content, grams }
    }
}

/// `*sum += t`, where an empty sum is `t`: how sums over styles and tiles are built without a
/// zero tensor of the right shape to start from.
pub(crate) fn add_to<const D: usize>(sum: &mut Option<Tensor<D>>, t: Tensor<D>) {
    *sum = Some(match sum.take() {
        Some(acc) => acc + t,
        None => t,
    });
}

/// The blended Gram targets of [`Targets::blend`] for an output of `height`×`width`:
/// `grams_of(style)` gives a style image's Gram matrix at each of [`STYLE_LAYERS`] with its number
/// of positions there (computed whole or tile by tile).
pub(crate) fn blend_grams(
    styles: &[(Tensor<4>, f32)],
    height: usize,
    width: usize,
    grams_of: impl Fn(&Tensor<4>) -> Vec<(Tensor<2>, usize)>,
) -> Vec<Tensor<2>> {
    let total: f32 = styles.iter().map(|(_, wt)| wt).sum();
    let mut grams: Vec<Option<Tensor<2>>> = vec![None; STYLE_LAYERS.len()];
    for (style, weight) in styles {
        for ((slot, (g, positions)), (layer, _)) in grams.iter_mut().zip(grams_of(style)).zip(&STYLE_LAYERS) {
            let (sh, sw) = crate::vgg::spatial(*layer, height, width);
            add_to(slot, g.mul_scalar(weight / total * (sh * sw) as f32 / positions.max(1) as f32));
        }
    }
    grams.into_iter().flatten().collect()
}

/// The terms of the loss of one image, each a one-element tensor.
#[derive(Clone, Debug)]
pub struct LossParts {
    /// Content loss (unweighted).
    pub content: Tensor<1>,
    /// Style loss Σ w_l E_l (unweighted by β).
    pub style: Tensor<1>,
    /// The terms w_l E_l of the style loss, in the order of [`STYLE_LAYERS`].
    pub style_layers: Vec<Tensor<1>>,
    /// Total variation (unweighted by γ).
    pub tv: Tensor<1>,
    /// α·content + β·style + γ·tv.
    pub total: Tensor<1>,
}

impl LossParts {
    /// The four values as one `[4]` tensor (content, style, tv, total): one readback.
    pub fn stacked(&self) -> Tensor<1> {
        Tensor::cat(vec![self.content.clone(), self.style.clone(), self.tv.clone(), self.total.clone()], 0)
    }
}

/// The losses of image `x` (`[1, 3, H, W]`, 0..255) against `targets`.
pub fn losses(model: &Vgg, x: Tensor<4>, targets: &Targets, weights: LossWeights, pooling: Pooling) -> LossParts {
    let feats = model.features(x.clone(), &LOSS_LAYERS, pooling);
    let mut content = None;
    let mut style_layers = Vec::with_capacity(STYLE_LAYERS.len());
    for (layer, f) in LOSS_LAYERS.iter().zip(feats) {
        if *layer == CONTENT_LAYER {
            content = Some(content_loss(f.clone(), targets.content.clone()));
        }
        if let Some((_, w)) = STYLE_LAYERS.iter().find(|(l, _)| l == layer) {
            let [_, n, h, wd] = f.dims();
            let target = targets.grams[style_layers.len()].clone();
            style_layers.push(style_layer_loss(gram(f), target, n, h * wd).mul_scalar(*w));
        }
    }
    let content = content.expect("conv4_2 is in LOSS_LAYERS");
    let style = style_layers.iter().cloned().reduce(|a, b| a + b).expect("style layers are in LOSS_LAYERS");
    let tv = if weights.tv != 0.0 { tv_loss(x) } else { Tensor::zeros([1], &content.device()) };
    let total = content.clone().mul_scalar(weights.content)
        + style.clone().mul_scalar(weights.style)
        + tv.clone().mul_scalar(weights.tv);
    LossParts { content, style, style_layers, tv, total }
}
