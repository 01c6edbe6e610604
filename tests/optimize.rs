#![cfg(not(target_family = "wasm"))]
//! Gradients, optimizers and the stepping API.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use impasto::device::read;
use impasto::loss::{LossWeights, Targets, Term, losses};
use impasto::optim::OptimizerKind;
use impasto::stylize::{loss_and_gradient, start_image, to_tensor};
use impasto::{Config, Init, Pooling, Stylizer, Vgg};

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    pollster::block_on(f)
}

fn total(model: &Vgg, targets: &Targets, x: &[f32], shape: [usize; 4], w: LossWeights, device: &Device) -> f64 {
    let t = Tensor::<4>::from_data(TensorData::new(x.to_vec(), shape), device);
    block(read(losses(model, t, targets, w, Pooling::Avg).total())).unwrap()[0] as f64
}

/// ∂total/∂pixels from autodiff against central finite differences, along random directions
/// (a directional derivative sums over every pixel, so f32 rounding stays small against it).
#[test]
fn gradient_matches_finite_differences() {
    let device = impasto::device::cpu();
    let model = common::teacher(&device);
    let (w, h) = (24u32, 16u32);
    let (content, style) = (common::pattern(w, h, 1), common::pattern(w, h, 2));
    for (pooling_weights, label) in [
        (LossWeights::default(), "CS20 weights"),
        (LossWeights { content: 0.5, style: 1.0, tv: 0.2 }, "with TV"),
    ] {
        let targets = Targets::new(&model, to_tensor(&content, &device), to_tensor(&style, &device), Pooling::Avg);
        let x = common::pattern(w, h, 3);
        let shape = [1, 3, h as usize, w as usize];
        let (_, g) = loss_and_gradient(&model, &targets, to_tensor(&x, &device), pooling_weights, Pooling::Avg).unwrap();
        let g = block(read(g)).unwrap();
        let mut rng = impasto::rng::SplitMix64::new(9);
        for _ in 0..3 {
            let v: Vec<f32> = (0..x.pixels.len()).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let analytic: f64 = g.iter().zip(&v).map(|(a, b)| *a as f64 * *b as f64).sum();
            let eps = 0.25f32;
            let shift = |s: f32| x.pixels.iter().zip(&v).map(|(p, d)| p + s * d).collect::<Vec<_>>();
            let plus = total(&model, &targets, &shift(eps), shape, pooling_weights, &device);
            let minus = total(&model, &targets, &shift(-eps), shape, pooling_weights, &device);
            let numeric = (plus - minus) / (2.0 * eps as f64);
            let rel = (analytic - numeric).abs() / numeric.abs().max(1e-12);
            assert!(rel < 0.02, "{label}: autodiff {analytic} vs finite difference {numeric} (rel {rel})");
        }
    }
}

fn run(config: Config, size: u32, iterations: u32, device: &Device) -> (Vec<impasto::StepRecord>, Vec<f32>) {
    let model = common::teacher(device);
    let content = common::shared_working("tubingen.jpg", size);
    let style = common::shared_working("starry_night.jpg", size).resized(content.width, content.height);
    let mut s = Stylizer::new(config, &content, &style, model, device.clone()).unwrap();
    let records = block(s.step(iterations)).unwrap();
    (records, block(s.image()).unwrap().pixels)
}

/// CS20 settings: 50 Adam iterations at 64 px at least halve the total loss.
#[test]
fn adam_halves_the_loss_in_50_iterations() {
    let (records, pixels) = run(Config::default(), 64, 50, &impasto::device::cpu());
    let (first, last) = (records[0].total, records[49].total);
    assert!(last <= first * 0.5, "total loss {first} → {last}");
    assert_eq!(records.iter().map(|r| r.iteration).collect::<Vec<_>>(), (1..=50).collect::<Vec<_>>());
    assert!(records.windows(2).all(|w| w[1].elapsed_ms >= w[0].elapsed_ms));
    assert!(pixels.iter().all(|p| (0.0..=255.0).contains(p)), "pixels stay in range");
}

#[test]
fn lbfgs_lowers_the_loss() {
    let config = Config { optimizer: OptimizerKind::Lbfgs, learning_rate: 1.0, ..Config::default() };
    let (records, _) = run(config, 48, 25, &impasto::device::cpu());
    let (first, last) = (records[0].total, records[24].total);
    assert!(last <= first * 0.5, "total loss {first} → {last}");
}

/// An L-BFGS run settled at its end ([`Stylizer::settle`]) gives the last iterate whose loss it
/// measured and accepted, not the step it proposed after it: painted from again, that image's
/// loss is the last record's (or, where the last step was taken back, an earlier record's, and
/// lower); a run that goes on starts there.
#[test]
fn a_settled_lbfgs_run_ends_on_the_image_its_last_loss_was_measured_on() {
    let device = impasto::device::cpu();
    let model = common::teacher(&device);
    let (content, style) = (common::pattern(32, 24, 1), common::pattern(32, 24, 2));
    let config = Config { optimizer: OptimizerKind::Lbfgs, learning_rate: 1.0, seed: 3, ..Config::default() };
    let mut s = Stylizer::new(config.clone(), &content, &style, model.clone(), device.clone()).unwrap();
    let records = block(s.step(8)).unwrap();
    let proposed = block(s.image()).unwrap();
    s.settle();
    let settled = block(s.image()).unwrap();
    assert_ne!(proposed, settled, "the proposed step is dropped");
    let mut again = Stylizer::with_start(config, &content, &[(&style, 1.0)], model, device, Some(&settled)).unwrap();
    let measured = block(again.step(1)).unwrap()[0].total;
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-4 * b.abs();
    let last = records.last().unwrap().total;
    assert!(
        close(measured, last) || (measured < last && records.iter().any(|r| close(r.total, measured))),
        "the settled image's loss {measured}, the records' {:?}",
        records.iter().map(|r| r.total).collect::<Vec<_>>()
    );
    // A run that goes on does so from the settled image.
    let next = block(s.step(1)).unwrap()[0].total;
    assert!(close(next, measured), "going on from {next}, settled at {measured}");
}

/// Pausing is not calling step: 10 + 10 steps give exactly what 20 steps give, and a seed gives
/// the same run twice.
#[test]
fn resuming_continues_the_same_run() {
    let device = impasto::device::cpu();
    let model = common::teacher(&device);
    let content = common::pattern(32, 24, 1);
    let style = common::pattern(32, 24, 2);
    let config = Config { seed: 42, ..Config::default() };
    let mut a = Stylizer::new(config.clone(), &content, &style, model.clone(), device.clone()).unwrap();
    block(a.step(10)).unwrap();
    let resumed = block(a.step(10)).unwrap();
    let mut b = Stylizer::new(config, &content, &style, model, device).unwrap();
    let straight = block(b.step(20)).unwrap();
    assert_eq!(resumed.last().unwrap().total, straight.last().unwrap().total);
    assert_eq!(block(a.image()).unwrap(), block(b.image()).unwrap());
}

#[test]
fn start_images() {
    let content = common::pattern(20, 18, 5);
    let mix = |seed| start_image(&Config { seed, ..Config::default() }, &content);
    assert_eq!(mix(1), mix(1));
    assert_ne!(mix(1), mix(2));
    assert_eq!(start_image(&Config { init: Init::Content, ..Config::default() }, &content), content);
    // CS20's mix around the mean pixel: 0.6·noise + 0.4·(content − mean) + mean.
    let m = mix(1);
    let n = (20 * 18) as usize;
    for i in [0, 7, n + 3, 2 * n + 11] {
        let mean = impasto::vgg::MEAN_RGB[i / n];
        let noise = (m.pixels[i] - mean - 0.4 * (content.pixels[i] - mean)) / 0.6;
        assert!(noise.abs() <= 20.0 + 1e-3, "pixel {i}: implied noise {noise}");
    }
}

#[test]
fn bad_settings_are_refused() {
    let device = impasto::device::cpu();
    let model = common::teacher(&device);
    let img = common::pattern(16, 16, 1);
    for config in [
        Config { learning_rate: 0.0, ..Config::default() },
        Config { noise_ratio: 1.5, ..Config::default() },
        Config { weights: LossWeights { content: f32::NAN, ..LossWeights::default() }, ..Config::default() },
    ] {
        let e = Stylizer::new(config, &img, &img, model.clone(), device.clone()).err().unwrap();
        assert!(e.to_string().starts_with("invalid setting"), "{e}");
    }
}

/// The image gradient on wgpu (Vulkan here: lavapipe in CI) agrees with burn-flex on the CPU:
/// losses alone can hide a wrong backward pass (see shared/BURN-WEB.md on `fusion`).
#[test]
fn wgpu_gradient_matches_cpu() {
    let cpu = impasto::device::cpu();
    let gpu = impasto::device::wgpu().expect("a wgpu adapter (install mesa-vulkan-drivers for lavapipe)");
    let (w, h) = (32u32, 24u32);
    let (content, style, x) = (common::pattern(w, h, 1), common::pattern(w, h, 2), common::pattern(w, h, 3));
    let weights = LossWeights { content: 0.01, style: 1.0, tv: 0.1 };
    let mut results = Vec::new();
    for device in [&cpu, &gpu] {
        let model = common::teacher(device);
        let targets = Targets::new(&model, to_tensor(&content, device), to_tensor(&style, device), Pooling::Avg);
        let (parts, g) = loss_and_gradient(&model, &targets, to_tensor(&x, device), weights, Pooling::Avg).unwrap();
        results.push((block(read(parts.stacked())).unwrap(), block(read(g)).unwrap()));
    }
    let ((lc, gc), (lg, gg)) = (&results[0], &results[1]);
    for (a, b) in lc.iter().zip(lg) {
        assert!((a - b).abs() <= 1e-3 * a.abs().max(1e-6), "loss {a} (cpu) vs {b} (wgpu)");
    }
    let scale = gc.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = gc.iter().zip(gg).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    let sum_c: f32 = gc.iter().map(|v| v.abs()).sum();
    let sum_g: f32 = gg.iter().map(|v| v.abs()).sum();
    assert!(worst <= 1e-3 * scale, "gradient differs by {worst} (scale {scale}); Σ|g| cpu {sum_c} wgpu {sum_g}");
}

/// `step_frame` (losses and image in one readback) takes the same steps as `step` then `image`,
/// with and without the photo's colours kept, on the CPU and on wgpu.
#[test]
fn step_frame_equals_step_then_image() {
    let gpu = impasto::device::wgpu().expect("a wgpu adapter (install mesa-vulkan-drivers for lavapipe)");
    for device in [impasto::device::cpu(), gpu] {
        let content = common::pattern(40, 32, 1);
        let style = common::pattern(40, 32, 2);
        for original_colors in [false, true] {
            let make = || {
                let model = impasto::models::load(impasto::models::ModelKind::Distilled, &device).unwrap();
                Stylizer::new(Config { original_colors, ..Config::default() }, &content, &style, model, device.clone()).unwrap()
            };
            let (mut a, mut b) = (make(), make());
            for _ in 0..3 {
                let r = block(a.step(1)).unwrap().remove(0);
                let img = block(a.image()).unwrap();
                let (rf, imgf) = block(b.step_frame()).unwrap();
                // (Parallel sums may round differently from run to run: compare to f32 precision.)
                assert_eq!(r.iteration, rf.iteration);
                for (x, y) in [(r.terms[Term::Content], rf.terms[Term::Content]), (r.terms[Term::Style], rf.terms[Term::Style]), (r.total, rf.total)] {
                    assert!((x - y).abs() <= 1e-5 * x.abs(), "{r:?} vs {rf:?}");
                }
                let worst = img.pixels.iter().zip(&imgf.pixels).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
                assert!(worst < 1e-3, "original colours {original_colors}: pixels differ by {worst}");
            }
        }
    }
}
