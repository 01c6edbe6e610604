#![cfg(not(target_family = "wasm"))]
//! The two ways of computing a convolution ([`ConvAlgorithm`]) give the same outputs and the same
//! gradients with respect to the input, on the CPU and on wgpu (lavapipe in CI), for 3×3 and 1×1
//! kernels, whole and in bands of rows.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use impasto::rng::SplitMix64;
use impasto::vgg::{COL_BAND_BYTES, Conv, ConvAlgorithm, conv_gemm};

fn random(shape: [usize; 4], seed: u64, scale: f32, device: &Device) -> Tensor<4> {
    let mut rng = SplitMix64::new(seed);
    let n = shape.iter().product();
    Tensor::from_data(TensorData::new((0..n).map(|_| rng.uniform(-scale, scale)).collect::<Vec<f32>>(), shape), device)
}

fn floats(t: Tensor<4>) -> Vec<f32> {
    impasto::device::read_sync(t).unwrap()
}

/// The output of `f(x)` and ⟨r, f(x)⟩'s gradient with respect to `x`, for a fixed random `r`.
fn output_and_gradient(x: &Tensor<4>, f: impl Fn(Tensor<4>) -> Tensor<4>) -> (Vec<f32>, Vec<f32>) {
    let xa = x.clone().autodiff().require_grad();
    let y = f(xa.clone());
    let r = random(y.dims(), 77, 1.0, &y.device().inner());
    let grads = (y.clone() * r.autodiff()).sum().backward();
    let g = xa.grad(&grads).expect("a gradient for the input");
    (floats(y.inner()), floats(g))
}

fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(scale > 0.0, "{what}: all zero");
    assert!(worst <= 1e-4 * scale, "{what}: differs by {worst} (largest value {scale})");
}

fn check(device: &Device, label: &str) {
    // (in, out, k, height, width, band bytes): whole, in bands of a few rows, in bands of one row.
    let cases = [
        (5, 7, 3, 9, 11, COL_BAND_BYTES),
        (5, 7, 3, 9, 11, 9 * 5 * 11 * 4 * 2 + 1),
        (4, 6, 3, 6, 13, 1),
        (6, 3, 1, 7, 5, COL_BAND_BYTES),
    ];
    for (i, &(cin, cout, k, h, w, band)) in cases.iter().enumerate() {
        let x = random([1, cin, h, w], 1 + i as u64, 50.0, device);
        let weight = random([cout, cin, k, k], 100 + i as u64, 0.3, device);
        let bias = Tensor::<1>::from_data(TensorData::new((0..cout).map(|o| o as f32 - 2.0).collect::<Vec<f32>>(), [cout]), device);
        let pad = k / 2;
        let direct = output_and_gradient(&x, |x| {
            conv2d(x, weight.clone().autodiff(), Some(bias.clone().autodiff()), ConvOptions::new([1, 1], [pad, pad], [1, 1], 1))
        });
        let gemm = output_and_gradient(&x, |x| conv_gemm(x, weight.clone().autodiff(), bias.clone().autodiff(), band));
        let what = format!("{label}, {cin}→{cout} {k}×{k} on {h}×{w}, bands of {band} B");
        assert_close(&direct.0, &gemm.0, &format!("{what}: output"));
        assert_close(&direct.1, &gemm.1, &format!("{what}: input gradient"));
    }
    // Through the module, both algorithms by name.
    let conv = Conv::new(random([4, 3, 3, 3], 5, 0.3, device), Tensor::zeros([4], device));
    let x = random([1, 3, 8, 8], 6, 50.0, device);
    assert_close(
        &floats(conv.forward_with(x.clone(), ConvAlgorithm::Direct)),
        &floats(conv.forward_with(x, ConvAlgorithm::Gemm)),
        &format!("{label}: Conv::forward_with"),
    );
}

#[test]
fn gemm_equals_direct_on_cpu() {
    check(&impasto::device::cpu(), "cpu");
}

#[test]
fn gemm_equals_direct_on_wgpu() {
    let gpu = impasto::device::wgpu().expect("a wgpu adapter (install mesa-vulkan-drivers for lavapipe)");
    check(&gpu, "wgpu");
}

#[test]
fn each_device_gets_its_faster_algorithm() {
    assert_eq!(ConvAlgorithm::for_device(&impasto::device::cpu()), ConvAlgorithm::Host);
    let gpu = impasto::device::wgpu().expect("a wgpu adapter (install mesa-vulkan-drivers for lavapipe)");
    assert_eq!(ConvAlgorithm::for_device(&gpu), ConvAlgorithm::Gemm);
    assert_eq!(ConvAlgorithm::for_device(&gpu.autodiff()), ConvAlgorithm::Gemm);
    assert_eq!(ConvAlgorithm::for_device(&impasto::device::cpu().autodiff()), ConvAlgorithm::Host);
}

#[test]
fn adapters_by_name() {
    // Chromium's software WebGPU reports `architecture: "swiftshader"`; natively SwiftShader's
    // Vulkan driver calls itself "SwiftShader Device (Subzero)".
    assert_eq!(ConvAlgorithm::for_adapter("swiftshader "), ConvAlgorithm::Direct);
    assert_eq!(ConvAlgorithm::for_adapter("SwiftShader Device (Subzero)"), ConvAlgorithm::Direct);
    assert_eq!(ConvAlgorithm::for_adapter("llvmpipe (LLVM 15.0.6, 256 bits)"), ConvAlgorithm::Gemm);
    assert_eq!(ConvAlgorithm::for_adapter("ampere NVIDIA H200"), ConvAlgorithm::Gemm);
    assert_eq!(ConvAlgorithm::for_adapter(" "), ConvAlgorithm::Gemm);
    for a in [ConvAlgorithm::Direct, ConvAlgorithm::Gemm, ConvAlgorithm::Host] {
        assert_eq!(ConvAlgorithm::from_name(a.name()), Some(a));
    }
    assert_eq!(ConvAlgorithm::from_name("winograd"), None);
}

/// A model takes the route of the device it is loaded on, and keeps the one it is given.
#[test]
fn models_carry_their_route() {
    let cpu = impasto::device::cpu();
    let model = impasto::models::load(impasto::models::ModelKind::Distilled, &cpu).unwrap();
    assert_eq!(model.conv, ConvAlgorithm::Host);
    let gemm = model.clone().with_conv(ConvAlgorithm::Gemm);
    assert_eq!(gemm.conv, ConvAlgorithm::Gemm);
    // The whole model's features agree either way (the CPU's by the host pass).
    let x = random([1, 3, 20, 28], 8, 120.0, &cpu) + 120.0;
    let layers = [impasto::Layer::Conv1_1, impasto::Layer::Conv3_1, impasto::Layer::Conv5_1];
    let a = model.features(x.clone(), &layers, impasto::Pooling::Avg);
    let b = gemm.features(x, &layers, impasto::Pooling::Avg);
    for (fa, fb) in a.into_iter().zip(b) {
        assert_close(&floats(fa), &floats(fb), "distilled model's features");
    }
}

/// 2×2 average pooling as the CPU model computes it (a depthwise convolution, weights ¼) equals
/// the backend's `avg_pool2d`, output and input gradient, odd sides included; a model on wgpu
/// keeps the backend's pooling kernel.
#[test]
fn average_pooling_as_a_convolution_equals_the_kernel() {
    use burn::tensor::module::avg_pool2d;
    use burn::tensor::ops::AvgPoolOptions;
    let cpu = impasto::device::cpu();
    let model = impasto::models::load(impasto::models::ModelKind::Distilled, &cpu).unwrap();
    assert!(model.avg_pool_as_conv);
    for shape in [[1, 8, 12, 18], [1, 5, 13, 19]] {
        let x = random(shape, 5, 50.0, &cpu);
        let (ya, ga) = output_and_gradient(&x, |t| model.pool(t, impasto::Pooling::Avg));
        let (yb, gb) = output_and_gradient(&x, |t| avg_pool2d(t, AvgPoolOptions::new([2, 2])));
        assert_close(&ya, &yb, "pooled");
        assert_close(&ga, &gb, "pooling's input gradient");
    }
    let gpu = impasto::device::wgpu().expect("a wgpu adapter (install mesa-vulkan-drivers for lavapipe)");
    assert!(!impasto::models::load(impasto::models::ModelKind::Distilled, &gpu).unwrap().avg_pool_as_conv);
}
