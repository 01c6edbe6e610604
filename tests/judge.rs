#![cfg(not(target_family = "wasm"))]
//! The neutral judge: its forward pass against numpy's on the checkpoint's own
//! weights (`scripts/fetch-judge --reference`), and its losses' invariants.

mod common;

use burn::tensor::Tensor;
use impasto::device::read;
use impasto::image_io::Image;
use impasto::judge;
use impasto::stylize::to_tensor;
use impasto::{Layer, Pooling};

/// conv1_1, conv3_1 and conv5_1 on the fixed pattern match numpy (float64, the checkpoint's
/// arrays, torchvision's normalisation, zero padding, average pooling) within 1e-3 of the
/// layer's scale.
#[test]
fn the_judge_matches_numpy_on_the_checkpoints_weights() {
    let reference: common::Reference = serde_json::from_str(include_str!("data/judge_reference.json")).expect("reference parses");
    let device = impasto::device::cpu();
    let model = judge::load(&device).expect("the judge can be fetched");
    let img = common::reference_input(reference.width, reference.height);
    let input = to_tensor(&judge::judge_input(&img), &device);
    let layers = [Layer::Conv1_1, Layer::Conv3_1, Layer::Conv5_1];
    let feats = model.features(input, &layers, Pooling::Avg);
    for (layer, f) in layers.into_iter().zip(feats) {
        common::assert_matches_reference(layer, f, &reference);
    }
}

/// The judge's input map gives torchvision's normalisation after the model's own mean.
#[test]
fn the_input_map_is_torchvisions_normalisation() {
    let img = Image::from_planar(2, 1, vec![0.0, 255.0, 10.0, 20.0, 128.0, 64.0]).unwrap();
    let mapped = judge::judge_input(&img);
    for c in 0..3 {
        for i in 0..2 {
            let got = mapped.pixels[c * 2 + i] - impasto::vgg::MEAN_RGB[c];
            let want = (img.pixels[c * 2 + i] / 255.0 - judge::TORCHVISION_MEAN[c]) / judge::TORCHVISION_STD[c];
            assert!((got - want).abs() < 1e-4, "channel {c}: {got} vs {want}");
        }
    }
}

/// Judged against itself, the photo has no content loss; judged as the painting, no style loss;
/// the layer factors put the judge on the teacher's scale; and the loss grows as the output
/// moves away from the painting.
#[test]
fn neutral_losses_behave() {
    let device = impasto::device::cpu();
    let teacher = common::teacher(&device);
    let neutral = judge::load(&device).unwrap();
    let content = common::shared_working("tubingen.jpg", 64);
    let style = common::shared_working("starry_night.jpg", 64).resized(content.width, content.height);
    let eval = |out: &Image| pollster::block_on(judge::evaluate(&teacher, &neutral, &device, &content, &style, out)).unwrap();
    let of_content = eval(&content);
    assert!(of_content.losses.content.abs() < 1e-3, "{:?}", of_content.losses);
    assert!(of_content.losses.style > 0.0);
    let of_style = eval(&style);
    assert!(of_style.losses.style.abs() < 1e-3 * of_content.losses.style, "{:?}", of_style.losses);
    assert_eq!(of_content.layer_scales.len(), 6);
    assert!(of_content.layer_scales.iter().all(|s| s.is_finite() && *s > 0.0), "{:?}", of_content.layer_scales);
    // The factors make the judge's mean activation the teacher's at every tap.
    let mean = |m: &impasto::Vgg, img: &Image| {
        let f = m.features(to_tensor(img, &device), &impasto::loss::LOSS_LAYERS, Pooling::Avg);
        pollster::block_on(read(Tensor::cat(f.into_iter().map(|t| t.mean()).collect(), 0))).unwrap()
    };
    let t = mean(&teacher, &content);
    let j = mean(&neutral, &judge::judge_input(&content));
    for k in 0..6 {
        assert!((j[k] * of_content.layer_scales[k] / t[k] - 1.0).abs() < 1e-4, "tap {k}");
    }
    // Halfway from the photo to the painting, the style loss is between the two.
    let half = Image { pixels: content.pixels.iter().zip(&style.pixels).map(|(a, b)| 0.5 * (a + b)).collect(), ..content.clone() };
    let mid = eval(&half);
    assert!(mid.losses.style < of_content.losses.style && mid.losses.style > of_style.losses.style);
}

/// The judge measures; it never trains. No model-building code may load it.
#[test]
fn the_judge_is_not_in_any_fitting_loss() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["lab/src/distill.rs", "lab/src/fit.rs", "src/stylize.rs", "src/loss.rs", "src/multiscale.rs", "src/tiled.rs", "src/optim.rs"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(!text.contains("judge::") && !text.contains("impasto::judge"), "{file} uses the judge");
    }
}
