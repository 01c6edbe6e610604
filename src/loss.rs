//! The Gatys losses as taught in Stanford CS20 (assignment 2, `style_transfer.py`), as small
//! composable pieces.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

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
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
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
///
/// Differentiated through one matrix product, not autodiff's two and a transpose: every loss
/// here gives G a symmetric gradient dG, so dF = (dG + dGᵀ)·F = 2·dG·F, which is what
/// `2·F·stop(F)ᵀ − stop(F·Fᵀ)` hands to autodiff. Its value is F·Fᵀ exactly (2x − x is exact in
/// floating point). Only for losses whose gradient in G is symmetric (all of Impasto's are).
pub fn gram(features: Tensor<4>) -> Tensor<2> {
    let [b, n, h, w] = features.dims();
    debug_assert_eq!(b, 1, "one image at a time");
    let f = features.reshape([n, h * w]);
    let one_sided = f.clone().matmul(f.detach().transpose());
    one_sided.clone().mul_scalar(2.0) - one_sided.detach()
}

/// Content loss Σ(F−P)²/(4·|P|), `|P|` the number of elements of P (CS20 `_create_content_loss`;
/// Gatys et al. use ½Σ(F−P)²).
pub fn content_loss(f: Tensor<4>, p: Tensor<4>) -> Tensor<1> {
    let scale = content_scale(p.shape().num_elements());
    content_sum(f, p).mul_scalar(scale)
}

/// Σ(F−P)², the content loss before its normalisation: a sum over positions, so the sums of
/// tiles add up to the whole image's ([`crate::tiled`]).
pub fn content_sum(f: Tensor<4>, p: Tensor<4>) -> Tensor<1> {
    (f - p).square().sum()
}

/// The content loss's normalisation 1/(4·|P|) for a target of `elements` values.
pub fn content_scale(elements: usize) -> f32 {
    1.0 / (4.0 * elements as f32)
}

/// One layer's style loss E = Σ(G−A)²/(2·N·M)² (Gatys et al. eq. 4; CS20 `_single_style_loss`).
/// The difference is scaled before squaring: the same value, and no overflow of `f32` for large
/// images, whose raw Gram entries reach 1e10.
pub fn style_layer_loss(g: Tensor<2>, a: Tensor<2>, n: usize, m: usize) -> Tensor<1> {
    (g - a).mul_scalar(style_scale(n, m)).square().sum()
}

/// ∂E/∂G = 2s²(G−A) of [`style_layer_loss`], s = 1/(2NM): with it held constant, the gradient of
/// ⟨∂E/∂G, G⟩ is E's, which is how [`crate::tiled`] takes the gradient one tile at a time.
pub fn style_layer_gram_gradient(g: Tensor<2>, a: Tensor<2>, n: usize, m: usize) -> Tensor<2> {
    let s = style_scale(n, m);
    (g - a).mul_scalar(2.0 * s * s)
}

/// s = 1/(2·N·M) for a layer of `n` channels and `m` positions.
fn style_scale(n: usize, m: usize) -> f32 {
    1.0 / (2.0 * n as f32 * m as f32)
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

/// A term of the loss, by name: how records, the page's chart and the CLI know it (never by a
/// position in a readback).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Term {
    /// Content loss at [`CONTENT_LAYER`] ([`content_loss`]), weighted by α.
    Content,
    /// Style loss Σ w_l E_l over [`STYLE_LAYERS`] ([`style_layer_loss`]), weighted by β.
    Style,
    /// Total variation of the image ([`tv_loss`]), weighted by γ.
    Tv,
    /// A film frame's distance to the previous painted frame carried along the motion
    /// ([`crate::film::Temporal`]), weighted by λ.
    Temporal,
}

impl Term {
    /// Every term, in the order a record lists them.
    pub const ALL: [Term; 4] = [Term::Content, Term::Style, Term::Tv, Term::Temporal];

    /// The term's name in records (`content`, `style`, `tv`, `temporal`).
    pub fn name(self) -> &'static str {
        match self {
            Term::Content => "content",
            Term::Style => "style",
            Term::Tv => "tv",
            Term::Temporal => "temporal",
        }
    }
}

/// The unweighted value of each term a loss has, as read back: `terms[Term::Style]`. A term the
/// loss lacks (no TV weight, no previous film frame) has no value ([`Terms::get`]) and reads as 0.
/// Serialized as an object of the terms it has (`{"content": …, "style": …}`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Terms {
    values: [Option<f32>; Term::ALL.len()],
}

impl Terms {
    /// The value of `term`, where the loss has it.
    pub fn get(&self, term: Term) -> Option<f32> {
        self.values[term as usize]
    }

    /// Set the value of `term`.
    pub fn set(&mut self, term: Term, value: f32) {
        self.values[term as usize] = Some(value);
    }

    /// The terms the loss has, with their values, in [`Term::ALL`]'s order.
    pub fn iter(&self) -> impl Iterator<Item = (Term, f32)> + '_ {
        Term::ALL.into_iter().filter_map(|t| self.get(t).map(|v| (t, v)))
    }
}

impl std::ops::Index<Term> for Terms {
    type Output = f32;
    fn index(&self, term: Term) -> &f32 {
        self.values[term as usize].as_ref().unwrap_or(&0.0)
    }
}

impl Serialize for Terms {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // As a struct, not a map: serde-wasm-bindgen makes a struct a plain object, a map a `Map`.
        use serde::ser::SerializeStruct;
        let mut object = serializer.serialize_struct("Terms", self.iter().count())?;
        for (term, value) in self.iter() {
            object.serialize_field(term.name(), &value)?;
        }
        object.end()
    }
}

/// The loss of one image: its terms by name, each a one-element tensor with its weight, and
/// their weighted total.
#[derive(Clone, Debug)]
pub struct LossParts {
    /// `(term, weight, unweighted value)`, in [`Term::ALL`]'s order.
    terms: Vec<(Term, f32, Tensor<1>)>,
    /// The terms w_l E_l of the style loss, in the order of [`STYLE_LAYERS`].
    pub style_layers: Vec<Tensor<1>>,
    /// Σ weight · value over the terms.
    total: Tensor<1>,
}

impl LossParts {
    /// The loss of the network's two terms, content and style (unweighted, with the weights of
    /// `weights`), and the style loss's terms by layer; other terms join it by
    /// [`LossParts::add`]. The total, Σ weight · value, is written here and there only.
    pub fn new(weights: LossWeights, content: Tensor<1>, style: Tensor<1>, style_layers: Vec<Tensor<1>>) -> LossParts {
        let total = content.clone().mul_scalar(weights.content) + style.clone().mul_scalar(weights.style);
        let terms = vec![(Term::Content, weights.content, content), (Term::Style, weights.style, style)];
        LossParts { terms, style_layers, total }
    }

    /// Add a term computed apart (total variation, a film frame's temporal term) to the loss and
    /// its total.
    pub fn add(&mut self, term: Term, weight: f32, value: Tensor<1>) {
        debug_assert!(self.terms.iter().all(|(t, _, _)| *t != term), "{term:?} twice");
        self.total = self.total.clone() + value.clone().mul_scalar(weight);
        let at = self.terms.partition_point(|(t, _, _)| (*t as usize) < term as usize);
        self.terms.insert(at, (term, weight, value));
    }

    /// The weighted total.
    pub fn total(&self) -> Tensor<1> {
        self.total.clone()
    }

    /// Every term's value and the total as one tensor: one readback, read by [`LossParts::read`].
    pub fn stacked(&self) -> Tensor<1> {
        let mut all: Vec<Tensor<1>> = self.terms.iter().map(|(_, _, v)| v.clone()).collect();
        all.push(self.total.clone());
        Tensor::cat(all, 0)
    }

    /// How many values [`LossParts::stacked`] holds.
    pub fn stacked_len(&self) -> usize {
        self.terms.len() + 1
    }

    /// The terms and the total from the first [`LossParts::stacked_len`] values of a readback of
    /// [`LossParts::stacked`] (anything read back with it follows them).
    pub fn read(&self, values: &[f32]) -> (Terms, f32) {
        let mut terms = Terms::default();
        for ((term, _, _), value) in self.terms.iter().zip(values) {
            terms.set(*term, *value);
        }
        (terms, values[self.terms.len()])
    }

    /// The same values off the autodiff graph.
    pub fn detached(self) -> LossParts {
        let detach = |t: Tensor<1>| t.without_autodiff();
        LossParts {
            terms: self.terms.into_iter().map(|(t, w, v)| (t, w, detach(v))).collect(),
            style_layers: self.style_layers.into_iter().map(detach).collect(),
            total: detach(self.total),
        }
    }
}

/// The terms of `weights` computed on the image itself rather than on its features (total
/// variation), on the whole image whichever way the features' terms are computed (whole or in
/// tiles): `(term, weight, value)` and the gradient of their weighted sum; none where γ = 0.
pub fn image_terms(x: &Tensor<4>, weights: LossWeights) -> crate::error::Result<Option<(Vec<(Term, f32, Tensor<1>)>, Tensor<4>)>> {
    if weights.tv == 0.0 {
        return Ok(None);
    }
    let xa = x.clone().autodiff().require_grad();
    let tv = tv_loss(xa.clone());
    let grads = tv.clone().mul_scalar(weights.tv).backward();
    let g = xa
        .grad(&grads)
        .ok_or_else(|| crate::error::Error::Device("the backend returned no image gradient".into()))?
        .without_autodiff();
    Ok(Some((vec![(Term::Tv, weights.tv, tv.without_autodiff())], g)))
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
    let mut parts = LossParts::new(weights, content, style, style_layers);
    if weights.tv != 0.0 {
        parts.add(Term::Tv, weights.tv, tv_loss(x));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(v: f32) -> Tensor<1> {
        Tensor::from_data(burn::tensor::TensorData::new(vec![v], [1]), &crate::device::cpu())
    }

    /// The total is Σ weight·value over the terms, a term added apart included; a readback is
    /// read back by name, and a record lists only the terms the loss has.
    #[test]
    fn terms_are_read_back_by_name() {
        let weights = LossWeights { content: 0.5, style: 2.0, tv: 1.0 };
        let mut parts = LossParts::new(weights, scalar(10.0), scalar(3.0), vec![]);
        parts.add(Term::Temporal, 4.0, scalar(0.25));
        assert_eq!(parts.stacked_len(), 4);
        let values = pollster::block_on(crate::device::read(parts.stacked())).unwrap();
        let (terms, total) = parts.read(&values);
        assert_eq!(total, 0.5 * 10.0 + 2.0 * 3.0 + 4.0 * 0.25);
        assert_eq!((terms[Term::Content], terms[Term::Style], terms[Term::Temporal]), (10.0, 3.0, 0.25));
        assert_eq!((terms.get(Term::Tv), terms[Term::Tv]), (None, 0.0));
        assert_eq!(serde_json::to_string(&terms).unwrap(), r#"{"content":10.0,"style":3.0,"temporal":0.25}"#);
    }
}
