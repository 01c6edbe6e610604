#![cfg(not(target_family = "wasm"))]
//! The teacher against the ONNX model's own computation (onnxruntime), and the losses against
//! hand-computed values.

mod common;

use burn::tensor::{Tensor, TensorData};
use impasto::device::read;
use impasto::loss::{content_loss, gram, style_layer_loss};
use impasto::{Layer, Pooling};

/// conv1_1 and conv5_1 on the fixed input match onnxruntime within 1e-3 of the layer's scale
/// (max |ours − theirs| / max |theirs|), with max pooling as the ONNX model has.
#[test]
fn teacher_matches_onnx_reference() {
    let reference: common::Reference =
        serde_json::from_str(include_str!("data/onnx_reference.json")).expect("reference parses");
    let device = impasto::device::cpu();
    let model = common::teacher(&device);
    let input = impasto::stylize::to_tensor(&common::reference_input(reference.width, reference.height), &device);
    let feats = model.features(input, &[Layer::Conv1_1, Layer::Conv5_1], Pooling::Max);
    for (layer, f) in [Layer::Conv1_1, Layer::Conv5_1].into_iter().zip(feats) {
        common::assert_matches_reference(layer, f, &reference);
    }
}

#[test]
fn gram_matches_hand_computation() {
    let device = impasto::device::cpu();
    // Two channels over a 1×3 image: F = [[1, 2, 3], [4, 5, 6]].
    let f = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [1, 2, 1, 3]), &device);
    let g = pollster::block_on(read(gram(f))).unwrap();
    assert_eq!(g, vec![14.0, 32.0, 32.0, 77.0]);
    // E = Σ(G−A)²/(2·N·M)² with A = 0: (14² + 2·32² + 77²)/(2·2·3)² = 8173/144.
    let g = Tensor::<2>::from_data(TensorData::new(vec![14.0f32, 32.0, 32.0, 77.0], [2, 2]), &device);
    let e = pollster::block_on(read(style_layer_loss(g.clone(), g.zeros_like(), 2, 3))).unwrap()[0];
    assert!((e - 8173.0 / 144.0).abs() < 1e-4, "{e}");
}

#[test]
fn gram_is_symmetric_and_content_loss_of_itself_is_zero() {
    let device = impasto::device::cpu();
    let model = common::teacher(&device);
    let img = impasto::stylize::to_tensor(&common::pattern(40, 24, 3), &device);
    let feats = model.features(img, &[Layer::Conv3_1, Layer::Conv4_2], Pooling::Avg);
    let g = gram(feats[0].clone());
    let asym = pollster::block_on(read((g.clone() - g.clone().transpose()).abs().max())).unwrap()[0];
    let norm = pollster::block_on(read(g.abs().max())).unwrap()[0];
    assert!(norm > 0.0 && asym <= norm * 1e-6, "asymmetry {asym} of {norm}");
    let zero = pollster::block_on(read(content_loss(feats[1].clone(), feats[1].clone()))).unwrap()[0];
    assert_eq!(zero, 0.0);
    let c = feats[1].dims();
    let ones = Tensor::<4>::ones(c, &device);
    // Σ 1² / (4·|P|) = 1/4.
    let quarter = pollster::block_on(read(content_loss(ones.clone() * 2.0, ones))).unwrap()[0];
    assert!((quarter - 0.25).abs() < 1e-6, "{quarter}");
}

/// `gram` is differentiated through one product (dF = 2·dG·F, for a symmetric dG): its style
/// loss's gradient equals autodiff's through both factors of F·Fᵀ, on real features.
#[test]
fn gram_gradient_equals_autodiffs_through_both_factors() {
    let device = impasto::device::cpu();
    let model = common::teacher(&device);
    let img = impasto::stylize::to_tensor(&common::pattern(40, 24, 3), &device);
    let style = impasto::stylize::to_tensor(&common::pattern(40, 24, 7), &device);
    let target = gram(model.features(style, &[Layer::Conv2_1], Pooling::Avg).remove(0));
    let f = model.features(img, &[Layer::Conv2_1], Pooling::Avg).remove(0);
    let [_, n, h, w] = f.dims();
    let gradient = |g: &dyn Fn(Tensor<4>) -> Tensor<2>| {
        let fa = f.clone().autodiff().require_grad();
        let grads = style_layer_loss(g(fa.clone()), target.clone().autodiff(), n, h * w).backward();
        pollster::block_on(read(fa.grad(&grads).expect("a gradient").without_autodiff())).unwrap()
    };
    let ours = gradient(&|t| gram(t));
    let plain = gradient(&|t| {
        let m = t.reshape([n, h * w]);
        m.clone().matmul(m.transpose())
    });
    let scale = plain.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let off = ours.iter().zip(&plain).fold(0.0f32, |a, (x, y)| a.max((x - y).abs()));
    assert!(scale > 0.0 && off <= scale * 1e-5, "gradients differ by {off} of {scale}");
}
