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
    use impasto::vgg::{LayerWeights, Storage, VGG16, encode_weights};
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
