#![cfg(not(target_family = "wasm"))]
//! The distillation pipeline on a tiny budget: PCA factorisation reproduces the teacher where
//! the rank is full, meets its budget, and fine-tuning lowers the distillation loss.

mod common;

use impasto::distill::{self, DistillConfig, TrainingImages};
use impasto::image_io::{Image, encode_png};
use impasto::rng::SplitMix64;
use impasto::vgg::{Layer, Pooling, VGG16, Vgg};

/// A directory of small training images cut from the shared test images.
fn training_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("impasto-distill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["tubingen.jpg", "starry_night.jpg", "golden_gate.jpg"] {
        let img: Image = common::shared_working(name, 128);
        std::fs::write(dir.join(format!("{name}.png")), encode_png(&img).unwrap()).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), b"not an image").unwrap();
    dir
}

fn tiny_config() -> DistillConfig {
    DistillConfig { pca_batches: 2, steps: 30, batch: 4, crop: 64, learning_rate: 1e-4, log_every: 10, ..DistillConfig::default() }
}

#[test]
fn pca_at_full_rank_reproduces_the_teacher_and_fine_tuning_lowers_the_loss() {
    let device = impasto::device::cpu();
    let teacher = common::teacher(&device);
    let dir = training_dir();
    let images = TrainingImages::load(&dir, 128, 64).unwrap();
    assert_eq!(images.images.len(), 3);
    assert_eq!(images.skipped.len(), 1, "the text file is skipped with a reason");
    let config = tiny_config();
    let mut rng = SplitMix64::new(config.seed);
    let stats = distill::response_stats(&teacher, &images, &config, &mut rng, &device).unwrap();
    let eigen = distill::eigen(&stats);

    // Full rank at conv2_1 (128 channels): the factorised layer is the teacher's up to rounding.
    let mut ranks = vec![None; VGG16.len()];
    ranks[Layer::Conv2_1 as usize] = Some(128);
    let full = distill::factorize(&teacher, &stats, &eigen, &ranks, &device).unwrap();
    let x = distill::sample_batch(&images, &mut SplitMix64::new(9), 1, 64, &device);
    let a: Vec<f32> = teacher.features(x.clone(), &[Layer::Conv2_2], Pooling::Avg).remove(0).into_data().try_to_vec::<f32>().unwrap();
    let b: Vec<f32> = full.features(x, &[Layer::Conv2_2], Pooling::Avg).remove(0).into_data().try_to_vec::<f32>().unwrap();
    let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = a.iter().zip(&b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(worst < 1e-3 * scale, "full-rank PCA differs from the teacher by {worst} (scale {scale})");

    // A 1/6 budget (and 1.45 M parameters) is met.
    let eigenvalues: Vec<Vec<f64>> = eigen.iter().map(|(v, _)| v.clone()).collect();
    let ranks = distill::allocate_ranks(&eigenvalues, 12_500_000_000, 1_450_000, 8).unwrap();
    let student: Vgg = distill::factorize(&teacher, &stats, &eigen, &ranks, &device).unwrap();
    assert!(student.macs(512, 512) <= 12_500_000_000);
    assert!(student.num_params() <= 1_450_000);
    assert_eq!(student.ranks(), ranks);

    // Fine-tuning lowers the loss on fixed validation batches; the result round-trips the file.
    let before = distill::validation_loss(&teacher, &student, &images, &config, 4, 77, &device).unwrap();
    let (tuned, log) = distill::fine_tune(&teacher, student, &images, &config, &mut rng, &device, &mut |_| {}).unwrap();
    assert_eq!(log.len(), 3, "a line every 10 steps");
    let after = distill::validation_loss(&teacher, &tuned, &images, &config, 4, 77, &device).unwrap();
    eprintln!("validation loss {:.4} → {:.4}", before.0, after.0);
    assert!(after.0 < 0.95 * before.0, "validation loss {} → {}", before.0, after.0);
    let bytes = impasto::vgg::encode_weights(&tuned.to_layer_weights().unwrap(), impasto::vgg::Storage::F32, &[]).unwrap();
    let back = Vgg::from_bytes(bytes, &device).unwrap();
    assert_eq!(back.ranks(), tuned.ranks());
    std::fs::remove_dir_all(&dir).ok();
}
