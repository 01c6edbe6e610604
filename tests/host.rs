#![cfg(not(target_family = "wasm"))]
//! The CPU engine's own pass ([`ConvAlgorithm::Host`]) gives the losses and the image gradient
//! that burn's autodiff through its own convolutions gives: both models (every layer shape of
//! each), both poolings, odd sides (every pooling drops a row or a column), each term alone.

mod common;

use burn::tensor::Device;
use impasto::device::read;
use impasto::loss::{LossWeights, Targets};
use impasto::models::{self, ModelKind};
use impasto::stylize::{loss_and_gradient, to_tensor};
use impasto::vgg::ConvAlgorithm;
use impasto::{Pooling, Vgg};

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    pollster::block_on(f)
}

/// Losses (every term, the total, then the style layers) and the gradient, by burn's
/// convolution and by the host pass, on one image.
fn both(model: Vgg, device: &Device, (w, h): (u32, u32), weights: LossWeights, pooling: Pooling) -> [(Vec<f32>, Vec<f32>); 2] {
    let content = to_tensor(&common::pattern(w, h, 1), device);
    let styles = vec![(to_tensor(&common::pattern(w + 6, h - 4, 2), device), 1.0)];
    let x = to_tensor(&common::pattern(w, h, 3), device);
    let direct = model.clone().with_conv(ConvAlgorithm::Direct);
    let host = model.with_conv(ConvAlgorithm::Host);
    let targets = Targets::blend(&direct, content, &styles, pooling);
    let run = |m: &Vgg| {
        let (parts, g) = loss_and_gradient(m, &targets, x.clone(), weights, pooling).unwrap();
        let mut v = block(read(parts.stacked())).unwrap();
        for l in parts.style_layers {
            v.extend(block(read(l)).unwrap());
        }
        (v, block(read(g)).unwrap())
    };
    [run(&direct), run(&host)]
}

fn assert_same(label: &str, pair: [(Vec<f32>, Vec<f32>); 2], tolerance: f32) {
    common::assert_same_losses_and_gradient(label, ["burn", "host"], pair, tolerance);
}

#[test]
fn the_host_pass_equals_autodiff_through_burns_convolutions() {
    let device = impasto::device::cpu();
    let distilled = models::load(ModelKind::Distilled, &device).unwrap();
    let teacher = common::teacher(&device);
    for (model, name) in [(distilled, "distilled"), (teacher, "teacher")] {
        for (weights, pooling, label) in [
            (LossWeights { content: 1.0, style: 0.0, tv: 0.0 }, Pooling::Avg, "content only"),
            (LossWeights { content: 0.0, style: 1.0, tv: 0.0 }, Pooling::Avg, "style only"),
            (LossWeights { content: 0.01, style: 1.0, tv: 0.0 }, Pooling::Max, "CS20 weights, max pooling"),
            (LossWeights { content: 1e3, style: 1.0, tv: 1e-2 }, Pooling::Avg, "all three"),
        ] {
            assert_same(&format!("{name}, {label}"), both(model.clone(), &device, (67, 45), weights, pooling), 2e-4);
        }
    }
}
