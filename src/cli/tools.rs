//! The CLI's smaller commands: `eval` (a painting judged), `models` (what is installed) and
//! `resize` (images to a working size).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{BackendArg, JudgeArg, decode_file, pick_device, write_png};
use crate::device;
use crate::error::{Error, Result};
use crate::image_io;
use crate::models::{self, ModelKind};
use crate::stylize;

pub(super) fn eval_cmd(content: &Path, style: &Path, output: &Path, backend: BackendArg, judge: JudgeArg) -> Result<()> {
    let out_img = decode_file(output, "the output image")?.to_image();
    let (w, h) = (out_img.width, out_img.height);
    if w < image_io::MIN_SIDE || h < image_io::MIN_SIDE {
        return Err(Error::TooSmall { what: "the output image".into(), width: w, height: h, min: image_io::MIN_SIDE });
    }
    let c = decode_file(content, "the content image")?.to_size(w, h, "the content image")?;
    let s = decode_file(style, "the style image")?.to_size(w, h, "the style image")?;
    let (device, _) = pick_device(backend)?;
    let model = models::load(ModelKind::Teacher, &device)?;
    let json = match judge {
        JudgeArg::Teacher => serde_json::to_value(pollster::block_on(stylize::evaluate(&model, &device, &c, &s, &out_img))?),
        JudgeArg::Neutral => {
            let neutral = crate::judge::load(&device)?;
            serde_json::to_value(pollster::block_on(crate::judge::evaluate(&model, &neutral, &device, &c, &s, &out_img))?)
        }
    };
    let mut json = json.map_err(|e| Error::Encode(e.to_string()))?;
    // What a viewer sees of the photo, beside the network's losses.
    json["structure"] = crate::judge::structure(&c, &out_img).into();
    println!("{json}");
    Ok(())
}

#[derive(Serialize)]
struct ModelInfo {
    name: &'static str,
    available: bool,
    parameters: u64,
    gmacs_512: f64,
    weight_file_bytes: Option<u64>,
}

pub(super) fn models_cmd() -> Result<()> {
    let mut out = Vec::new();
    for kind in ModelKind::ALL {
        let path = models::weights_path(kind);
        let bytes = std::fs::metadata(&path).ok().map(|m| m.len());
        let (params, macs) = match (kind, bytes) {
            (_, Some(_)) => {
                let m = models::load(kind, &device::cpu())?;
                (m.num_params(), m.macs(512, 512))
            }
            (ModelKind::Teacher, None) => models::teacher_cost(512, 512),
            (ModelKind::Distilled, None) => continue,
        };
        out.push(ModelInfo {
            name: kind.name(),
            available: bytes.is_some(),
            parameters: params,
            gmacs_512: (macs as f64 / 1e9 * 100.0).round() / 100.0,
            weight_file_bytes: bytes,
        });
    }
    println!("{}", serde_json::to_string_pretty(&out).map_err(|e| Error::Encode(e.to_string()))?);
    Ok(())
}

pub(super) fn resize_cmd(inputs: &[PathBuf], size: u32, out_dir: &Path) -> Result<()> {
    if size < image_io::MIN_SIDE {
        return Err(Error::InvalidConfig(format!("--size must be at least {}", image_io::MIN_SIDE)));
    }
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            image_io::collect_files(input, &mut files)?;
        } else {
            files.push(input.clone());
        }
    }
    files.sort();
    let (mut written, mut skipped) = (0, 0);
    for file in files {
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let result = decode_file(&file, "the image").and_then(|d| {
            let long = d.width().max(d.height()).min(size);
            d.to_working(long, "the image")
        });
        match result {
            Ok(img) => {
                write_png(&out_dir.join(format!("{stem}.png")), &img)?;
                written += 1;
            }
            Err(e) => {
                eprintln!("impasto: skipping {}: {e}", file.display());
                skipped += 1;
            }
        }
    }
    eprintln!("impasto: {written} images written to {} ({skipped} skipped)", out_dir.display());
    Ok(())
}
