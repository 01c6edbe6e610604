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

/// Channel pruning (lab/src/prune.rs): a layer between the loss layers may keep fewer output
/// channels, and the next then reads that many; a loss layer keeps the teacher's width.
#[test]
fn a_narrower_layer_between_loss_layers_loads_and_a_narrower_loss_layer_does_not() {
    use burn::tensor::{Tensor, TensorData};
    use impasto::vgg::{Layer, Pooling, VGG16};
    use impasto::weights::{LayerWeights, Storage, encode_weights};
    // Widths per layer; the input of each is the previous one's width.
    let file = |narrow: &[(&str, usize)]| {
        let mut input = 3;
        let layers: Vec<LayerWeights> = VGG16
            .iter()
            .map(|s| {
                let out = narrow.iter().find(|(n, _)| *n == s.name).map_or(s.out_channels, |&(_, w)| w);
                let shape = [out, input, 3, 3];
                input = out;
                LayerWeights { name: s.name, convs: vec![(shape, vec![0.01; shape.iter().product()], vec![0.1; out])] }
            })
            .collect();
        encode_weights(&layers, Storage::F16, &[]).unwrap()
    };
    let device = impasto::device::cpu();
    let vgg = Vgg::from_bytes(file(&[("conv1_2", 16), ("conv3_3", 48)]), &device).unwrap();
    assert_eq!(vgg.num_params(), {
        let mut input = 3;
        VGG16.iter().map(|s| {
            let out = match s.name { "conv1_2" => 16, "conv3_3" => 48, _ => s.out_channels };
            let n = out * input * 9 + out;
            input = out;
            n as u64
        }).sum::<u64>()
    });
    let x = Tensor::<4>::from_data(TensorData::new(vec![128.0f32; 3 * 32 * 32], [1, 3, 32, 32]), &device);
    let feats = vgg.features(x, &[Layer::Conv1_1, Layer::Conv2_1, Layer::Conv4_1], Pooling::Avg);
    let dims: Vec<[usize; 4]> = feats.iter().map(|f| f.dims()).collect();
    assert_eq!(dims, vec![[1, 64, 32, 32], [1, 128, 16, 16], [1, 512, 4, 4]]);
    let e = Vgg::from_bytes(file(&[("conv2_1", 64)]), &device).err().unwrap().to_string();
    assert_eq!(e, "model weights: conv2_1 ends with 64 channels, expected 128");
    let e = Vgg::from_bytes(file(&[("conv4_2", 256)]), &device).err().unwrap().to_string();
    assert_eq!(e, "model weights: conv4_2 ends with 256 channels, expected 512");
}

/// The committed distilled model (docs/distilled-vgg.md): decodes into the factorised
/// architecture with the teacher's layer names, within the distilled model's budgets (`impasto-lab distill`), with finite features
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
        // conv1_1 is the teacher's own layer. Past conv4_2 the directions drift: the committed
        // model, re-fitted layer by layer in closed form to the teacher's responses given its own
        // inputs (docs/distilled-vgg.md), measures 0.51 at conv4_3 and 0.50 at conv5_1 here (the
        // fine-tuned model before it: 0.65 and 0.69), while its neutral-judged style is better.
        // What these bounds guard is the decoding; quality is `scripts/quality`'s to judge.
        let floor = match spec.layer {
            Layer::Conv1_1 => 0.999,
            Layer::Conv4_3 | Layer::Conv5_1 => 0.4,
            _ => 0.6,
        };
        assert!(cosine > floor, "{}: cosine {cosine:.3} with the teacher's features", spec.name);
    }
}
