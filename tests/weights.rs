#![cfg(not(target_family = "wasm"))]
//! The weight loader: the teacher's file decodes into the architecture; damaged files are refused
//! with a message.

mod common;

use impasto::Vgg;
use impasto::models::{ModelKind, weights_path};

#[test]
fn teacher_file_decodes_into_vgg16() {
    let model = common::teacher(&impasto::device::cpu());
    assert_eq!(model.num_params(), impasto::models::teacher_cost(512, 512).0);
    assert_eq!(model.macs(512, 512), 75_346_477_056);
}

#[test]
fn damaged_files_are_refused() {
    common::teacher(&impasto::device::cpu());
    let bytes = std::fs::read(weights_path(ModelKind::Teacher)).unwrap();
    let device = impasto::device::cpu();
    let e = Vgg::from_bytes(bytes[..bytes.len() / 2].to_vec(), &device).err().unwrap().to_string();
    assert!(e.starts_with("model weights:"), "{e}");
    let e = Vgg::from_bytes(b"not a weight file at all".to_vec(), &device).err().unwrap().to_string();
    assert!(e.starts_with("model weights:"), "{e}");
    let e = Vgg::from_bytes(Vec::new(), &device).err().unwrap().to_string();
    assert!(e.starts_with("model weights:"), "{e}");
}

#[test]
fn a_file_missing_a_layer_is_refused() {
    use impasto::vgg::VGG16;
    use impasto::weights::{LayerWeights, Storage, encode_weights};
    let layers: Vec<LayerWeights> = VGG16[..VGG16.len() - 1]
        .iter()
        .map(|s| {
            let shape = [s.out_channels, s.in_channels, 3, 3];
            LayerWeights { name: s.name, convs: vec![(shape, vec![0.0; shape.iter().product()], vec![0.0; s.out_channels])] }
        })
        .collect();
    let bytes = encode_weights(&layers, Storage::F16, &[]).unwrap();
    let e = Vgg::from_bytes(bytes, &impasto::device::cpu()).err().unwrap().to_string();
    assert_eq!(e, "model weights: conv5_1 is missing");
}

/// The committed distilled model (docs/distilled-vgg.md): decodes into the factorised
/// architecture with the teacher's layer names, within issue 4's budgets, with finite features
/// that track the teacher's.
#[test]
fn distilled_file_decodes_within_budget() {
    use burn::tensor::{Tensor, TensorData};
    use impasto::vgg::{Layer, Pooling, VGG16};
    let path = weights_path(ModelKind::Distilled);
    let size = std::fs::metadata(&path).expect("models/vgg16-distilled.bpk is committed").len();
    assert!(size <= 3_000_000, "{size} bytes");
    let device = impasto::device::cpu();
    let student = impasto::models::load(ModelKind::Distilled, &device).unwrap();
    let teacher_macs = impasto::models::teacher_cost(512, 512).1;
    assert!(student.macs(512, 512) * 6 <= teacher_macs, "{} MACs", student.macs(512, 512));
    let ranks = student.ranks();
    assert_eq!(ranks[0], None, "conv1_1 is the teacher's");
    assert!(ranks[1..].iter().all(Option::is_some), "{ranks:?}");
    // The architecture table (what the lab's rank choice spends) counts what the loaded model has.
    let table = impasto::vgg::architecture_cost(&ranks.clone().try_into().unwrap(), 512, 512);
    assert_eq!(table, (student.num_params(), student.macs(512, 512)));
    // Finite features at every layer, close in direction to the teacher's on a photo.
    let img = common::shared_working("tubingen.jpg", 96);
    let x = Tensor::<4>::from_data(
        TensorData::new(img.pixels.clone(), [1, 3, img.height as usize, img.width as usize]),
        &device,
    );
    let layers: Vec<Layer> = VGG16.iter().map(|s| s.layer).collect();
    let teacher = common::teacher(&device);
    let fs = student.features(x.clone(), &layers, Pooling::Avg);
    let ft = teacher.features(x, &layers, Pooling::Avg);
    for ((s, t), spec) in fs.into_iter().zip(ft).zip(VGG16) {
        let s = impasto::device::read_sync(s).unwrap();
        let t = impasto::device::read_sync(t).unwrap();
        assert!(s.iter().all(|v| v.is_finite()), "{}", spec.name);
        let dot: f64 = s.iter().zip(&t).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
        let norm = |v: &[f32]| v.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
        let cosine = dot / (norm(&s) * norm(&t)).max(1e-30);
        assert!(cosine > 0.6, "{}: cosine {cosine:.3} with the teacher's features", spec.name);
    }
}
