#![cfg(not(target_family = "wasm"))]
//! The distillation pipeline on a tiny budget: PCA factorisation reproduces the teacher where
//! the rank is full, meets its budget, and fine-tuning lowers the distillation loss.

#[path = "../../tests/common/mod.rs"]
mod common;

use impasto_lab::distill::{self, DistillConfig, TrainingImages};
use impasto::device::read_sync;
use impasto::image_io::{Image, encode_png};
use impasto::rng::SplitMix64;
use impasto::vgg::{Layer, Pooling, VGG16, Vgg};

/// A directory of small training images cut from the shared test images, one per test (the
/// tests of this file run in parallel and each removes its own).
fn training_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("impasto-distill-{}-{test}", std::process::id()));
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
    let dir = training_dir("pca_at_full_rank_reproduces_the_teacher_and_fine_tuning_lowers_the_loss");
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
    let x = distill::sample_batch(&[&images.images], &mut SplitMix64::new(9), 1, 64, &device);
    let a = read_sync(teacher.features(x.clone(), &[Layer::Conv2_2], Pooling::Avg).remove(0)).unwrap();
    let b = read_sync(full.features(x, &[Layer::Conv2_2], Pooling::Avg).remove(0)).unwrap();
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
    let (tuned, log) = distill::fine_tune(&teacher, student, &[&images.images], &config, &mut rng, &device, &mut |_| {}).unwrap();
    assert_eq!(log.len(), 3, "a line every 10 steps");
    let after = distill::validation_loss(&teacher, &tuned, &images, &config, 4, 77, &device).unwrap();
    eprintln!("validation loss {:.4} → {:.4}", before.0, after.0);
    assert!(after.0 < 0.95 * before.0, "validation loss {} → {}", before.0, after.0);
    let bytes = impasto::weights::encode_weights(&tuned.to_layer_weights().unwrap(), impasto::weights::Storage::F32, &[]).unwrap();
    let back = Vgg::from_bytes(bytes, &device).unwrap();
    assert_eq!(back.ranks(), tuned.ranks());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn self_stylizations_are_the_students_own_runs_three_snapshots_each() {
    let device = impasto::device::cpu();
    let dir = training_dir("self_stylizations_are_the_students_own_runs_three_snapshots_each");
    let images = TrainingImages::load(&dir, 128, 64).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let teacher = common::teacher(&device);
    // Any Vgg stylizes: the teacher stands in for a student.
    let config = DistillConfig { self_stylized: 2, self_side: 48, self_iterations: 6, crop: 40, ..tiny_config() };
    let run = |seed| distill::self_stylizations(&teacher, &images.images, &config.transfers(), &mut SplitMix64::new(seed), &device).unwrap();
    let pool = run(5);
    assert_eq!(pool.len(), 6, "three snapshots per transfer");
    for img in &pool {
        // 48 px long side, the short side raised to the crop (the images are 4:3 or wider).
        assert!(img.width.min(img.height) >= 40 && img.width.max(img.height) >= 48, "{}×{}", img.width, img.height);
        assert!(img.pixels.iter().all(|p| p.is_finite() && (0.0..=255.0).contains(p)));
    }
    // Snapshots of one run differ (the optimization moves the image) and the run is seeded.
    assert_ne!(pool[0].pixels, pool[2].pixels);
    assert_eq!(run(5)[5].pixels, pool[5].pixels);
    // The pool feeds the batches, also when it is the only non-empty one.
    let x = distill::sample_batch(&[&[], &pool], &mut SplitMix64::new(1), 2, 40, &device);
    assert_eq!(x.dims(), [2, 3, 40, 40]);
    let v = read_sync(x).unwrap();
    assert!(v[..3 * 40 * 40].iter().any(|p| *p > 0.0) && v[3 * 40 * 40..].iter().any(|p| *p > 0.0));
    // Too few images is a clear error, not a panic.
    let one = &images.images[..1];
    assert!(distill::self_stylizations(&teacher, one, &config.transfers(), &mut SplitMix64::new(0), &device).is_err());
}

#[test]
fn rescaling_a_layer_scales_its_activations_and_teacher_layers_replace_the_students() {
    let device = impasto::device::cpu();
    let teacher = common::teacher(&device);
    let img = common::shared_working("tubingen.jpg", 48);
    let x = impasto::stylize::to_tensor(&img, &device);
    let all: Vec<Layer> = VGG16.iter().map(|s| s.layer).collect();
    let feats = |m: &Vgg| -> Vec<Vec<f32>> {
        m.features(x.clone(), &all, Pooling::Avg).into_iter().map(|t| read_sync(t).unwrap()).collect()
    };
    let a = feats(&teacher);
    // Every layer's activations are the teacher's times `factor(layer)`, to 1e-4.
    let check = |m: &Vgg, label: &str, factor: &dyn Fn(Layer) -> f32| {
        let b = feats(m);
        for (i, &layer) in all.iter().enumerate() {
            let s = factor(layer);
            let scale = a[i].iter().fold(0f32, |m, v| m.max(v.abs())) * s;
            let worst = a[i].iter().zip(&b[i]).fold(0f32, |m, (p, q)| m.max((p * s - q).abs()));
            assert!(worst <= 1e-4 * scale, "{label} {layer}: off by {worst} (scale {scale})");
        }
    };
    let scaled = distill::rescale(&teacher, &[(Layer::Conv3_1, 2.0), (Layer::Conv5_1, 0.5)], &device).unwrap();
    check(&scaled, "rescaled", &|layer| match layer {
        Layer::Conv3_1 => 2.0,
        Layer::Conv5_1 => 0.5,
        _ => 1.0,
    });
    // Layers put back whole from the teacher undo the scale where they are: with conv3_1 and
    // conv3_2 the teacher's, only conv5_1's factor is left.
    let hybrid = distill::with_teacher_layers(&scaled, &teacher, &[Layer::Conv3_1, Layer::Conv3_2], &device);
    check(&hybrid, "hybrid", &|layer| if layer == Layer::Conv5_1 { 0.5 } else { 1.0 });
    assert!(distill::rescale(&teacher, &[(Layer::Conv2_1, 0.0)], &device).is_err());
    assert!(distill::rescale(&teacher, &[(Layer::Conv2_1, f32::NAN)], &device).is_err());
}

#[test]
fn prune_rounds_add_the_snapshots_of_each_fitted_students_runs() {
    use impasto_lab::prune::{self, PruneConfig, TRANSFER_SEED};
    let device = impasto::device::cpu();
    let dir = training_dir("prune_rounds_add_the_snapshots_of_each_fitted_students_runs");
    let images = TrainingImages::load(&dir, 128, 48).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let teacher = common::teacher(&device);
    let config = PruneConfig {
        batches: 1,
        batch: 2,
        crop: 48,
        rows_per_batch: 256,
        self_stylized: 1,
        self_side: 48,
        self_iterations: 3,
        rounds: 2,
        ..PruneConfig::default()
    };
    let mut rounds = Vec::new();
    let (student, fits) =
        prune::prune(&teacher, None, &images, &config, &device, &mut |_| {}, &mut |r, snaps, s| rounds.push((r, snaps.to_vec(), s.clone())))
            .unwrap();
    let counts: Vec<(usize, usize)> = rounds.iter().map(|(r, snaps, _)| (*r, snaps.len())).collect();
    assert_eq!(counts, [(0, 3), (1, 6)], "one style transfer (three snapshots) per round");
    assert_eq!(fits.len(), VGG16.len());
    assert!(fits.iter().all(|f| f.relative_error.is_finite()));
    // Round 1's transfer is the teacher's, round 2's the first student's: replayed, they match.
    let mut rng = SplitMix64::new(config.seed ^ TRANSFER_SEED);
    let by_teacher = distill::self_stylizations(&teacher, &images.images, &config.transfers(), &mut rng, &device).unwrap();
    let by_student = distill::self_stylizations(&rounds[0].2, &images.images, &config.transfers(), &mut rng, &device).unwrap();
    let pixels = |v: &[Image]| v.iter().map(|i| i.pixels.clone()).collect::<Vec<_>>();
    let all = &rounds[1].1;
    assert_eq!(pixels(&all[..3]), pixels(&by_teacher));
    assert_eq!(pixels(&all[3..]), pixels(&by_student));
    // The widths are the configuration's; the last round's student is the result, and it differs
    // from the first round's (its crops were drawn from a pool with the student's snapshots).
    assert_eq!(student.layers[Layer::Conv1_2 as usize].convs[0].weight.val().dims()[0], 16);
    let w = |m: &Vgg| read_sync(m.layers[Layer::Conv2_1 as usize].convs[0].weight.val().reshape([-1])).unwrap();
    assert_eq!(w(&rounds[1].2), w(&student));
    assert_ne!(w(&rounds[0].2), w(&student));
    // More rounds with nothing to add is refused.
    let idle = PruneConfig { self_stylized: 0, ..config };
    assert!(prune::prune(&teacher, None, &images, &idle, &device, &mut |_| {}, &mut |_, _, _| {}).is_err());
}

#[test]
fn refitting_a_factorised_student_keeps_its_reductions_and_solves_its_1x1s_again() {
    // …except in a layer given a rank, which is made again at it.
    use impasto::models::{self, ModelKind};
    use impasto_lab::prune::{self, PruneConfig};
    let device = impasto::device::cpu();
    let dir = training_dir("refitting_a_factorised_student_keeps_its_reductions_and_solves_its_1x1s_again");
    let images = TrainingImages::load(&dir, 128, 80).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let teacher = common::teacher(&device);
    // The committed student with every 1×1 back spoiled (halved): the re-fit must repair them.
    let mut base = models::load(ModelKind::Distilled, &device).unwrap();
    for layer in base.layers.iter_mut().filter(|l| l.convs.len() == 2) {
        let back = &layer.convs[1];
        layer.convs[1] = impasto::vgg::Conv::new(back.weight.val().mul_scalar(0.5), back.bias.val());
    }
    let config =
        PruneConfig { batches: 3, batch: 4, crop: 80, rows_per_batch: 512, ranks: vec![(Layer::Conv1_2, 24)], ..PruneConfig::default() };
    let (student, fits) = prune::prune(&teacher, Some(&base), &images, &config, &device, &mut |_| {}, &mut |_, _, _| {}).unwrap();
    let floats = |c: &impasto::vgg::Conv| read_sync(c.weight.val().reshape([-1])).unwrap();
    for ((spec, old), (new, fit)) in VGG16.iter().zip(&base.layers).zip(student.layers.iter().zip(&fits)) {
        assert_eq!(new.convs.len(), old.convs.len(), "{}", spec.name);
        assert!(fit.relative_error.is_finite() && fit.relative_error < 1.0, "{}: {}", spec.name, fit.relative_error);
        assert_eq!(fit.width, spec.out_channels, "the teacher's widths stay");
        if spec.layer == Layer::Conv1_2 {
            // 24: a rank the committed student's conv1_2 (16) does not have, so it is made again.
            assert_ne!(old.convs[0].weight.val().dims()[0], 24);
            assert_eq!(new.convs[0].weight.val().dims(), [24, 64, 3, 3]);
            assert_eq!(new.convs[1].weight.val().dims(), [64, 24, 1, 1]);
            assert_eq!(fit.rank, Some(24));
        } else if let [reduce, back] = &new.convs[..] {
            // The 3×3 reduction is the base's; the 1×1 back is solved again, of the same shape.
            assert_eq!(floats(reduce), floats(&old.convs[0]), "{}", spec.name);
            assert_eq!(back.weight.val().dims(), old.convs[1].weight.val().dims(), "{}", spec.name);
            assert_ne!(floats(back), floats(&old.convs[1]), "{}", spec.name);
            assert_eq!(fit.rank, Some(reduce.weight.val().dims()[0]));
        }
    }
    // Repaired: on a photo it was not fitted on, its conv4_2 activations are closer to the
    // teacher's than the spoiled base's.
    let x = impasto::stylize::to_tensor(&common::shared_working("the_scream.jpg", 128), &device);
    let conv4_2 = |m: &Vgg| m.features(x.clone(), &[Layer::Conv4_2], Pooling::Avg).remove(0);
    let error = |m: &Vgg| {
        let (f, t) = (conv4_2(m), conv4_2(&teacher));
        read_sync((f - t.clone()).square().sum() / t.square().sum()).unwrap()[0]
    };
    let (repaired, spoiled) = (error(&student), error(&base));
    assert!(repaired < 0.75 * spoiled, "relative squared error at conv4_2: re-fitted {repaired}, spoiled {spoiled}");
    // A student with a layer narrower than the teacher's (conv1_2 keeping 16 channels, as a pruned
    // one does) has no 1×1 to solve back to the teacher's width: refused.
    let mut pruned = teacher.clone();
    let conv1_2 = &teacher.layers[Layer::Conv1_2 as usize].convs[0];
    let first = burn::tensor::Tensor::<1, burn::tensor::Int>::arange(0..16, &device);
    pruned.layers[Layer::Conv1_2 as usize].convs[0] =
        impasto::vgg::Conv::new(conv1_2.weight.val().select(0, first.clone()), conv1_2.bias.val().select(0, first));
    let refused = prune::prune(&teacher, Some(&pruned), &images, &config, &device, &mut |_| {}, &mut |_, _, _| {});
    assert!(matches!(&refused, Err(e) if e.to_string().contains("teacher's widths")), "{:?}", refused.err());
}
