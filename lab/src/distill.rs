//! Distillation of the VGG16 teacher into a cheaper student with the same layer names (`impasto-lab
//! distill`; the lab, apart from the product).
//!
//! 1. **Factorised initialisation** (Zhang, Zou, He & Sun 2015, "Accelerating Very Deep
//!    Convolutional Networks for Classification and Detection", §3.1 and §3.3): each layer after
//!    conv1_1 becomes a 3×3 convolution to `r` channels and a 1×1 convolution back, initialised by
//!    PCA of the teacher's pre-ReLU responses `y` on training crops: with `P` the top `r`
//!    eigenvectors of Cov(y) and `μ` the mean response, `y ≈ P·(Pᵀ(W∗x + b − μ)) + μ`. The ranks
//!    are chosen greedily to maximise the product of kept PCA energies (their eq. 14) under a
//!    budget of multiply-accumulates at 512×512.
//! 2. **Fine-tuning** with burn's autodiff: the student's activations at every layer are matched
//!    to the teacher's (relative squared error, a "hint" loss at each layer) and, at the style
//!    layers, its Gram matrices to the teacher's, on random crops of the training images, half of
//!    them mixed with noise as Gatys' start images are (the inputs style transfer feeds the
//!    network are not only photographs). conv1_1 (0.45 GMAC) stays the teacher's.
//!
//! Deterministic for a given seed, on a given backend.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};

use impasto::device::read_sync;
use impasto::error::{Error, Result};
use impasto::image_io::{self, Image, Limits};
use impasto::optim::Adam;
use impasto::loss::STYLE_LAYERS;
use impasto::rng::SplitMix64;
use impasto::stylize::{Config as StylizeConfig, Stylizer};
use impasto::vgg::{Conv, Layer, MEAN_RGB, Pooling, VGG16, Vgg, VggLayer};

/// Settings of a distillation run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DistillConfig {
    /// Budget of one forward pass to conv5_1 at 512×512, in GMAC (≤ 1/6 of the
    /// teacher's 75.3, so 12.5).
    pub max_gmacs: f64,
    /// Budget of parameters (the f16 file at most 3 MB).
    pub max_params: u64,
    /// Ranks are multiples of this (GPU-friendly channel counts).
    pub rank_step: usize,
    /// Batches of crops whose responses give the PCA statistics.
    pub pca_batches: usize,
    /// Fine-tuning steps (0: PCA initialisation only).
    pub steps: usize,
    /// Crops per batch.
    pub batch: usize,
    /// Side of the square crops, pixels.
    pub crop: usize,
    /// Adam's learning rate for the weights (cosine-decayed to a tenth over the run).
    pub learning_rate: f32,
    /// Weight of the Gram term relative to the feature term.
    pub gram_weight: f32,
    /// Seed of the crops, flips and noise.
    pub seed: u64,
    /// Pooling, as in the stylization the student serves.
    pub pooling: Pooling,
    /// Stop fine-tuning after this many seconds, if given; the learning rate then decays over
    /// whichever of the steps and the time runs out first, and the log says where it stopped.
    pub max_seconds: Option<f64>,
    /// A log line every this many steps.
    pub log_every: usize,
    /// Stylizations by the student itself added to the training crops (0: none; see
    /// [`self_stylizations`]).
    pub self_stylized: usize,
    /// Their long side, pixels (raised where the short side would fall below the crop).
    pub self_side: u32,
    /// Adam iterations of each (CS20 settings otherwise).
    pub self_iterations: u32,
}

impl Default for DistillConfig {
    fn default() -> Self {
        DistillConfig {
            max_gmacs: 12.5,
            max_params: 1_450_000,
            rank_step: 8,
            pca_batches: 16,
            steps: 2000,
            batch: 8,
            crop: 128,
            learning_rate: 1e-4,
            gram_weight: 1.0,
            seed: 0,
            pooling: Pooling::Avg,
            max_seconds: None,
            log_every: 50,
            self_stylized: 0,
            self_side: 192,
            self_iterations: 90,
        }
    }
}

/// The training set: images decoded and resized once, at most `max_side` on the long side.
pub struct TrainingImages {
    /// The images.
    pub images: Vec<Image>,
    /// The files used, relative to the directory, sorted.
    pub files: Vec<String>,
    /// Files skipped, with the reason.
    pub skipped: Vec<(String, String)>,
}

impl TrainingImages {
    /// Every decodable image under `dir` (recursively, in sorted order), resized to at most
    /// `max_side` on its long side; images whose short side is then below `min_side` are skipped.
    pub fn load(dir: &Path, max_side: u32, min_side: u32) -> Result<TrainingImages> {
        let mut paths = Vec::new();
        impasto::image_io::collect_files(dir, &mut paths)?;
        paths.sort();
        let (mut images, mut files, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
        for path in paths {
            let name = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let decoded = match image_io::decode(&bytes, &name, Limits::default()) {
                Ok(d) => d,
                Err(e) => {
                    skipped.push((name, e.to_string()));
                    continue;
                }
            };
            let long = decoded.width().max(decoded.height()).min(max_side);
            let img = match decoded.to_working(long, &name) {
                Ok(img) if img.width.min(img.height) >= min_side => img,
                _ => {
                    skipped.push((name, format!("smaller than {min_side} pixels after resizing")));
                    continue;
                }
            };
            images.push(img);
            files.push(name);
        }
        if images.is_empty() {
            return Err(Error::InvalidConfig(format!(
                "no usable training images under {} (run scripts/fetch-training-images)",
                dir.display()
            )));
        }
        Ok(TrainingImages { images, files, skipped })
    }
}

/// A batch `[batch, 3, crop, crop]` of random crops (and horizontal flips) of images drawn
/// uniformly from all of `pools` (each image at least `crop` a side; all pools empty: zeros);
/// half of them mixed with noise around the mean pixel as a Gatys start image is (CS20:
/// 0.6·U(−20, 20) noise + 0.4·content), with the image's share drawn from U(0.3, 1) and the
/// noise's amplitude from U(10, 60), so the student also sees the noisy, textured inputs of a
/// stylization in progress.
pub fn sample_batch(pools: &[&[Image]], rng: &mut SplitMix64, batch: usize, crop: usize, device: &Device) -> Tensor<4> {
    let n = crop * crop;
    let total: usize = pools.iter().map(|p| p.len()).sum();
    let mut data = vec![0.0f32; batch * 3 * n];
    for b in 0..batch {
        let mut k = (rng.next_u64() % total.max(1) as u64) as usize;
        let mut pick = None;
        for pool in pools {
            if k < pool.len() {
                pick = Some(&pool[k]);
                break;
            }
            k -= pool.len();
        }
        let Some(img) = pick else { break };
        let (w, h) = (img.width as usize, img.height as usize);
        let x0 = (rng.next_u64() % (w - crop + 1) as u64) as usize;
        let y0 = (rng.next_u64() % (h - crop + 1) as u64) as usize;
        let flip = rng.next_u64() & 1 == 1;
        let (share, amplitude) = if rng.next_u64() & 1 == 1 {
            (rng.uniform(0.3, 1.0), rng.uniform(10.0, 60.0))
        } else {
            (1.0, 0.0)
        };
        for c in 0..3 {
            let plane = &img.pixels[c * w * h..(c + 1) * w * h];
            let out = &mut data[(b * 3 + c) * n..(b * 3 + c + 1) * n];
            for y in 0..crop {
                for x in 0..crop {
                    let sx = if flip { x0 + crop - 1 - x } else { x0 + x };
                    let v = plane[(y0 + y) * w + sx];
                    let noise = if amplitude > 0.0 { rng.uniform(-amplitude, amplitude) } else { 0.0 };
                    let mean = MEAN_RGB[c];
                    out[y * crop + x] = (mean + share * (v - mean) + (1.0 - share) * noise).clamp(0.0, 255.0);
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(data, [batch, 3, crop, crop]), device)
}

/// The style transfers [`self_stylizations`] runs: the distillation's `--self-stylized` and
/// prune's rounds both describe theirs by one of these.
#[derive(Clone, Copy, Debug)]
pub struct Transfers {
    /// How many.
    pub count: usize,
    /// Their long side, pixels (raised where the short side would fall below `crop`).
    pub side: u32,
    /// Adam iterations of each (at least 3).
    pub iterations: u32,
    /// The training crops' side: no snapshot is smaller.
    pub crop: usize,
    /// Pooling, as in the stylization the student serves.
    pub pooling: Pooling,
}

impl DistillConfig {
    /// The student's own style transfers this configuration asks for.
    pub fn transfers(&self) -> Transfers {
        Transfers { count: self.self_stylized, side: self.self_side, iterations: self.self_iterations, crop: self.crop, pooling: self.pooling }
    }
}

/// `transfers.count` style transfers run by `student` itself between training images
/// (content and style two different images drawn by `rng`; CS20 settings, `transfers.iterations`
/// Adam iterations at `transfers.side` px long side), each kept at a third, two thirds and
/// the end of its run: 3 images per transfer.
///
/// Not in Zhang et al. or Gatys: this is imitation learning's answer to a student that is
/// judged on its own outputs (Ross, Gordon & Bagnell 2011, "A Reduction of Imitation Learning
/// and Structured Prediction to No-Regret Online Learning", DAgger). A stylization drives the
/// image towards whatever the *student* cannot tell from the painting, so these images show the
/// student its blind spots; fine-tuning on them, with the teacher's features as the labels,
/// teaches it to see them.
pub fn self_stylizations(
    student: &Vgg,
    images: &[Image],
    transfers: &Transfers,
    rng: &mut SplitMix64,
    device: &Device,
) -> Result<Vec<Image>> {
    if images.len() < 2 && transfers.count > 0 {
        return Err(Error::InvalidConfig("self-stylization needs at least two training images".into()));
    }
    let crop = transfers.crop as u32;
    let mut out = Vec::with_capacity(3 * transfers.count);
    for _ in 0..transfers.count {
        let n = images.len() as u64;
        let c = (rng.next_u64() % n) as usize;
        let s = (c + 1 + (rng.next_u64() % (n - 1)) as usize) % images.len();
        let (iw, ih) = (images[c].width, images[c].height);
        let (mut w, mut h) = image_io::working_size(iw, ih, transfers.side);
        if w.min(h) < crop {
            // Raise the short side to the crop, aspect kept.
            let scale = crop as f64 / w.min(h) as f64;
            (w, h) = (((w as f64 * scale).ceil() as u32).max(crop), ((h as f64 * scale).ceil() as u32).max(crop));
        }
        let content = images[c].resized(w, h);
        let style = images[s].resized(w, h);
        let run_config = StylizeConfig { seed: rng.next_u64(), pooling: transfers.pooling, ..StylizeConfig::default() };
        let mut run = Stylizer::new(run_config, &content, &style, student.clone(), device.clone())?;
        let iterations = transfers.iterations.max(3);
        for k in 1..=3 {
            let target = iterations * k / 3;
            pollster::block_on(run.step(target - run.iteration()))?;
            out.push(pollster::block_on(run.raw_image())?);
        }
    }
    Ok(out)
}

/// `student` with each layer in `full` replaced by the teacher's own, unfactorised layer: a
/// student that spends more of its budget where the style loss needs it, or a measurement of
/// what one layer's factorisation costs (the student otherwise unchanged).
pub fn with_teacher_layers(student: &Vgg, teacher: &Vgg, full: &[Layer], device: &Device) -> Vgg {
    let layers = student
        .layers
        .iter()
        .zip(&teacher.layers)
        .zip(VGG16)
        .map(|((s, t), spec)| if full.contains(&spec.layer) { t.clone() } else { s.clone() })
        .collect();
    Vgg::new(layers, device).with_conv(student.conv)
}

/// `model` with the activations of each layer in `scales` multiplied by its factor and every
/// later activation unchanged: the layer's last convolution (weight and bias) times `s`, the
/// next layer's first weight divided by `s` (ReLU and pooling commute with a positive factor).
///
/// A calibration, not in Zhang et al. or Gatys: scaling a style layer's activations by `s`
/// multiplies its Gram loss by `s⁴` in the optimization the model drives (conv4_2's content
/// loss by `s²`), at no cost, with the losses and their CS20 weights unchanged. Meant for a
/// student that under-stylizes at some layer; for the committed student it did not help: it is
/// blind at conv3_1, not under-weighted there (docs/distilled-vgg.md, "Experiments on the CPU").
pub fn rescale(model: &Vgg, scales: &[(Layer, f32)], device: &Device) -> Result<Vgg> {
    let mut layers: Vec<Vec<(Tensor<4>, Tensor<1>)>> =
        model.layers.iter().map(|l| l.convs.iter().map(|c| (c.weight.val(), c.bias.val())).collect()).collect();
    for &(layer, s) in scales {
        if !(s.is_finite() && s > 0.0) {
            return Err(Error::InvalidConfig(format!("the scale of {layer} must be a positive number, not {s}")));
        }
        let l = layer as usize;
        let Some(last) = layers.get_mut(l).and_then(|convs| convs.last_mut()) else {
            return Err(Error::InvalidConfig(format!("the model has no layer {layer}")));
        };
        *last = (last.0.clone().mul_scalar(s), last.1.clone().mul_scalar(s));
        if let Some(first) = layers.get_mut(l + 1).and_then(|convs| convs.first_mut()) {
            first.0 = first.0.clone().div_scalar(s);
        }
    }
    let layers = layers
        .into_iter()
        .map(|convs| VggLayer { convs: convs.into_iter().map(|(w, b)| Conv::new(w, b)).collect() })
        .collect();
    Ok(Vgg::new(layers, device).with_conv(model.conv))
}

/// The mean and covariance of one layer's pre-ReLU responses, accumulated in f64.
#[derive(Clone, Debug)]
pub struct ResponseStats {
    /// Channels.
    pub channels: usize,
    sum: Vec<f64>,
    outer: Vec<f64>,
    batches: usize,
}

impl ResponseStats {
    fn new(channels: usize) -> Self {
        ResponseStats { channels, sum: vec![0.0; channels], outer: vec![0.0; channels * channels], batches: 0 }
    }

    /// Mean response `μ`.
    pub fn mean(&self) -> Vec<f64> {
        self.sum.iter().map(|s| s / self.batches as f64).collect()
    }

    /// Covariance `E[yyᵀ] − μμᵀ`, row-major.
    pub fn covariance(&self) -> Vec<f64> {
        let c = self.channels;
        let mu = self.mean();
        let mut cov = vec![0.0; c * c];
        for i in 0..c {
            for j in 0..c {
                cov[i * c + j] = self.outer[i * c + j] / self.batches as f64 - mu[i] * mu[j];
            }
        }
        cov
    }
}

/// Per-batch means of `y` and `yyᵀ` over all positions, added to `stats` (on the host in f64,
/// so that large means do not cancel the covariance in f32).
fn accumulate(stats: &mut ResponseStats, y: Tensor<4>) -> Result<()> {
    let [b, c, h, w] = y.dims();
    let count = (b * h * w) as f32;
    let flat = y.swap_dims(0, 1).reshape([c, b * h * w]);
    let outer = flat.clone().matmul(flat.clone().transpose()).div_scalar(count);
    let sum = flat.sum_dim(1).div_scalar(count);
    for (acc, v) in stats.outer.iter_mut().zip(read_sync(outer)?) {
        *acc += v as f64;
    }
    for (acc, v) in stats.sum.iter_mut().zip(read_sync(sum)?) {
        *acc += v as f64;
    }
    stats.batches += 1;
    Ok(())
}

/// Statistics of the teacher's pre-ReLU responses at every layer, from `batches` batches of
/// training crops; `stats[0]` (conv1_1, never factorised) is left empty.
pub fn response_stats(
    teacher: &Vgg,
    images: &TrainingImages,
    config: &DistillConfig,
    rng: &mut SplitMix64,
    device: &Device,
) -> Result<Vec<ResponseStats>> {
    let mut stats: Vec<ResponseStats> = VGG16.iter().map(|s| ResponseStats::new(s.out_channels)).collect();
    for _ in 0..config.pca_batches {
        let x = sample_batch(&[&images.images], rng, config.batch, config.crop, device);
        let inputs = teacher.layer_inputs(x, config.pooling);
        for (l, (input, layer)) in inputs.into_iter().zip(&teacher.layers).enumerate().skip(1) {
            accumulate(&mut stats[l], layer.forward_linear(input, teacher.conv))?;
        }
    }
    Ok(stats)
}

/// Eigen-decomposition of a symmetric `n`×`n` matrix (row-major) by cyclic Jacobi rotations:
/// eigenvalues in descending order and the matching unit eigenvectors as rows of the second
/// result (`vectors[k * n ..][..n]` is the k-th).
pub fn symmetric_eigen(matrix: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = matrix.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| a[i * n + j].powi(2)).sum();
        if off <= 1e-24 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                // The rotation J (c at pp and qq, s at pq, −s at qp) that zeroes a_pq in JᵀAJ:
                // cot 2φ = (a_qq − a_pp) / 2a_pq, t = tan φ the smaller root.
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[j * n + j].total_cmp(&a[i * n + i]));
    let values = order.iter().map(|&i| a[i * n + i]).collect();
    let vectors = order.iter().flat_map(|&i| (0..n).map(move |k| (k, i))).map(|(k, i)| v[k * n + i]).collect();
    (values, vectors)
}

/// Ranks for every layer (conv1_1 always `None`) whose total cost at 512×512 is at most
/// `max_macs` and whose parameters number at most `max_params`, chosen greedily: each step lowers
/// the rank of the layer that loses the least log-energy (Σ of kept eigenvalues / Σ of all,
/// Zhang et al. 2015 eq. 14) per unit of over-budget cost saved (MACs and parameters each
/// measured as a share of their budget). `eigenvalues[l]` are layer `l`'s, descending. Fails if
/// even rank `step` everywhere is over.
pub fn allocate_ranks(eigenvalues: &[Vec<f64>], max_macs: u64, max_params: u64, step: usize) -> Result<Vec<Option<usize>>> {
    let energy = |l: usize, rank: Option<usize>| -> f64 {
        let ev = &eigenvalues[l];
        let total: f64 = ev.iter().map(|v| v.max(0.0)).sum::<f64>().max(f64::MIN_POSITIVE);
        match rank {
            None => 1.0,
            Some(r) => (ev.iter().take(r).map(|v| v.max(0.0)).sum::<f64>() / total).max(1e-12),
        }
    };
    let mut ranks: Vec<Option<usize>> = vec![None; VGG16.len()];
    let macs = |ranks: &[Option<usize>]| -> u64 { ranks.iter().enumerate().map(|(l, &r)| VGG16[l].macs(r, 512, 512)).sum() };
    let params = |ranks: &[Option<usize>]| -> u64 { ranks.iter().enumerate().map(|(l, &r)| VGG16[l].params(r)).sum() };
    loop {
        let (over_macs, over_params) = (macs(&ranks) > max_macs, params(&ranks) > max_params);
        if !over_macs && !over_params {
            return Ok(ranks);
        }
        let mut best: Option<(f64, usize, Option<usize>)> = None;
        for l in 1..VGG16.len() {
            let next = match ranks[l] {
                // The largest multiple of `step` whose factorised chain is cheaper than the full conv.
                None => (1..=VGG16[l].out_channels / step).rev().map(|k| k * step).find(|&r| {
                    VGG16[l].macs(Some(r), 512, 512) < VGG16[l].macs(None, 512, 512) && VGG16[l].params(Some(r)) < VGG16[l].params(None)
                }),
                Some(r) if r > step => Some(r - step),
                Some(_) => None,
            };
            let Some(next) = next else { continue };
            let mut saved = 0.0;
            if over_macs {
                saved += (VGG16[l].macs(ranks[l], 512, 512) - VGG16[l].macs(Some(next), 512, 512)) as f64 / max_macs.max(1) as f64;
            }
            if over_params {
                saved += (VGG16[l].params(ranks[l]) - VGG16[l].params(Some(next))) as f64 / max_params.max(1) as f64;
            }
            let lost = energy(l, ranks[l]).ln() - energy(l, Some(next)).ln();
            let price = lost / saved.max(f64::MIN_POSITIVE);
            if best.is_none_or(|(p, _, _)| price < p) {
                best = Some((price, l, Some(next)));
            }
        }
        match best {
            Some((_, l, r)) => ranks[l] = r,
            None => {
                return Err(Error::InvalidConfig(format!(
                    "a budget of {:.2} GMAC at 512x512 and {} parameters is below the cheapest factorisation",
                    max_macs as f64 / 1e9,
                    max_params
                )));
            }
        }
    }
}

/// Per layer, the eigen-decomposition ([`symmetric_eigen`]) of its response covariance; empty
/// for conv1_1.
/// The layers are independent, so they are decomposed on parallel threads.
pub fn eigen(stats: &[ResponseStats]) -> Vec<(Vec<f64>, Vec<f64>)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = stats
            .iter()
            .enumerate()
            .map(|(l, s)| {
                scope.spawn(move || if l == 0 { (Vec::new(), Vec::new()) } else { symmetric_eigen(&s.covariance(), s.channels) })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    })
}

/// The student initialised from the teacher: conv1_1 and every layer with rank `None` copied,
/// the others factorised by PCA (module docs) with `eigen` from [`eigen`].
pub fn factorize(
    teacher: &Vgg,
    stats: &[ResponseStats],
    eigen: &[(Vec<f64>, Vec<f64>)],
    ranks: &[Option<usize>],
    device: &Device,
) -> Result<Vgg> {
    let mut layers = Vec::with_capacity(VGG16.len());
    for (l, (layer, &rank)) in teacher.layers.iter().zip(ranks).enumerate() {
        let conv = &layer.convs[0];
        let Some(r) = rank else {
            layers.push(VggLayer { convs: vec![Conv::new(conv.weight.val(), conv.bias.val())] });
            continue;
        };
        let c = stats[l].channels;
        let vectors = &eigen[l].1;
        let mu: Vec<f32> = stats[l].mean().iter().map(|&m| m as f32).collect();
        // P: [c, r], columns the top r eigenvectors.
        let p: Vec<f32> = (0..c).flat_map(|i| (0..r).map(move |k| (k, i))).map(|(k, i)| vectors[k * c + i] as f32).collect();
        let p = Tensor::<2>::from_data(TensorData::new(p, [c, r]), device);
        let pt = p.clone().transpose();
        let [_, cin, kh, kw] = conv.weight.val().dims();
        let w = conv.weight.val().reshape([c, cin * kh * kw]);
        let reduce_w = pt.clone().matmul(w).reshape([r, cin, kh, kw]);
        let mu_t = Tensor::<1>::from_data(TensorData::new(mu, [c]), device);
        let reduce_b = pt.matmul((conv.bias.val() - mu_t.clone()).reshape([c, 1])).reshape([r]);
        let expand_w = p.reshape([c, r, 1, 1]);
        layers.push(VggLayer { convs: vec![Conv::new(reduce_w, reduce_b), Conv::new(expand_w, mu_t)] });
    }
    Ok(Vgg::new(layers, device))
}

/// Layers whose activations are matched (all but conv1_1, which the student shares).
const MATCHED: [Layer; 10] = [
    Layer::Conv1_2,
    Layer::Conv2_1,
    Layer::Conv2_2,
    Layer::Conv3_1,
    Layer::Conv3_2,
    Layer::Conv3_3,
    Layer::Conv4_1,
    Layer::Conv4_2,
    Layer::Conv4_3,
    Layer::Conv5_1,
];

/// Gram matrices `[batch, C, C]` of features `[batch, C, H, W]`, divided by `H·W`.
fn batch_gram(f: Tensor<4>) -> Tensor<3> {
    let [b, c, h, w] = f.dims();
    let f = f.reshape([b, c, h * w]);
    f.clone().matmul(f.swap_dims(1, 2)).div_scalar((h * w) as f32)
}

/// Relative squared error Σ(a−t)²/Σt² (t a constant).
fn relative_error<const D: usize>(a: Tensor<D>, t: Tensor<D>) -> Tensor<1> {
    let norm = t.clone().square().sum().add_scalar(1e-12);
    (a - t).square().sum().div(norm)
}

/// The distillation loss of `student` on a batch, against the teacher's activations `targets`
/// (one per [`MATCHED`] layer): Σ over those layers of the relative squared error of the
/// activations, plus `gram_weight` × Σ over the style layers after conv1_1 of the relative
/// squared error of the Gram matrices. Returns `(loss, feature part, gram part)`.
pub fn distill_loss(
    student: &Vgg,
    x: Tensor<4>,
    targets: &[Tensor<4>],
    gram_weight: f32,
    pooling: Pooling,
) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let feats = student.features(x, &MATCHED, pooling);
    let device = feats[0].device();
    let mut feature = Tensor::<1>::zeros([1], &device);
    let mut gram = Tensor::<1>::zeros([1], &device);
    for ((layer, s), t) in MATCHED.iter().zip(feats).zip(targets) {
        let t = t.clone().autodiff();
        if STYLE_LAYERS.iter().any(|(l, _)| l == layer) {
            gram = gram + relative_error(batch_gram(s.clone()), batch_gram(t.clone()));
        }
        feature = feature + relative_error(s, t);
    }
    (feature.clone() + gram.clone().mul_scalar(gram_weight), feature, gram)
}

/// One trainable convolution with an Adam (the product's, unbounded) for its weight and its bias.
struct Trainable {
    w: Tensor<4>,
    b: Tensor<1>,
    adam: (Adam<4>, Adam<1>),
}

impl Trainable {
    fn new(conv: &Conv, lr: f32) -> Self {
        Trainable {
            w: conv.weight.val(),
            b: conv.bias.val(),
            adam: (Adam::unbounded(lr), Adam::unbounded(lr)),
        }
    }
}

/// One line of the training log.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StepLog {
    /// Step, from 1.
    pub step: usize,
    /// Mean total loss over the steps since the last log line.
    pub loss: f64,
    /// Its feature part.
    pub feature: f64,
    /// Its Gram part.
    pub gram: f64,
    /// Learning rate at this step.
    pub learning_rate: f32,
    /// Seconds since fine-tuning began.
    pub seconds: f64,
}

/// Fine-tune `student` against `teacher` (module docs) on crops of the images in `pools` (the
/// training images, and e.g. [`self_stylizations`]), drawn uniformly from all; `log` gets a
/// line every `config.log_every` steps.
pub fn fine_tune(
    teacher: &Vgg,
    student: Vgg,
    pools: &[&[Image]],
    config: &DistillConfig,
    rng: &mut SplitMix64,
    device: &Device,
    log: &mut dyn FnMut(&StepLog),
) -> Result<(Vgg, Vec<StepLog>)> {
    let frozen = &student.layers[0].convs;
    let frozen: Vec<Conv> = frozen.iter().map(|c| Conv::new(c.weight.val(), c.bias.val())).collect();
    let mut trainable: Vec<Vec<Trainable>> = student.layers[1..]
        .iter()
        .map(|l| l.convs.iter().map(|c| Trainable::new(c, config.learning_rate)).collect())
        .collect();
    let mut history = Vec::new();
    let (mut acc, mut acc_f, mut acc_g, mut count) = (0.0f64, 0.0f64, 0.0f64, 0usize);
    let t0 = impasto::clock::now_ms();
    for step in 1..=config.steps {
        // Cosine decay from lr to lr/10 over the steps, or over the time limit if that comes
        // first (then the run is no longer determined by the seed alone).
        let mut progress = (step - 1) as f32 / config.steps.max(1) as f32;
        if let Some(limit) = config.max_seconds {
            progress = progress.max((((impasto::clock::now_ms() - t0) / 1000.0) / limit.max(1e-9)).min(1.0) as f32);
        }
        let lr = config.learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + (std::f32::consts::PI * progress).cos()));
        let x = sample_batch(pools, rng, config.batch, config.crop, device);
        let targets = teacher.features(x.clone(), &MATCHED, config.pooling);
        let tracked: Vec<Vec<(Tensor<4>, Tensor<1>)>> = trainable
            .iter()
            .map(|l| l.iter().map(|c| (c.w.clone().autodiff().require_grad(), c.b.clone().autodiff().require_grad())).collect())
            .collect();
        let mut layers = vec![VggLayer { convs: frozen.iter().map(|c| Conv::new(c.weight.val(), c.bias.val())).collect() }];
        layers.extend(tracked.iter().map(|l| VggLayer { convs: l.iter().map(|(w, b)| Conv::new(w.clone(), b.clone())).collect() }));
        let model = Vgg::new(layers, device);
        let (loss, feature, gram) = distill_loss(&model, x.autodiff(), &targets, config.gram_weight, config.pooling);
        let grads = loss.clone().backward();
        let values = read_sync(Tensor::cat(vec![loss.without_autodiff(), feature.without_autodiff(), gram.without_autodiff()], 0))?;
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(Error::Diverged(*v as f64));
        }
        for (layer, tracked) in trainable.iter_mut().zip(&tracked) {
            for (c, (w, b)) in layer.iter_mut().zip(tracked) {
                let missing = || Error::Device("the backend returned no weight gradient".into());
                let gw = w.grad(&grads).ok_or_else(missing)?.without_autodiff();
                let gb = b.grad(&grads).ok_or_else(missing)?.without_autodiff();
                c.adam.0.set_learning_rate(lr);
                c.adam.1.set_learning_rate(lr);
                c.w = c.adam.0.step(c.w.clone(), gw);
                c.b = c.adam.1.step(c.b.clone(), gb);
            }
        }
        acc += values[0] as f64;
        acc_f += values[1] as f64;
        acc_g += values[2] as f64;
        count += 1;
        let out_of_time = config.max_seconds.is_some_and(|m| (impasto::clock::now_ms() - t0) / 1000.0 >= m);
        if step % config.log_every.max(1) == 0 || step == config.steps || out_of_time {
            let line = StepLog {
                step,
                loss: acc / count as f64,
                feature: acc_f / count as f64,
                gram: acc_g / count as f64,
                learning_rate: lr,
                seconds: (impasto::clock::now_ms() - t0) / 1000.0,
            };
            log(&line);
            history.push(line);
            (acc, acc_f, acc_g, count) = (0.0, 0.0, 0.0, 0);
        }
        if out_of_time {
            break;
        }
    }
    let mut layers = vec![VggLayer { convs: frozen }];
    layers.extend(
        trainable.into_iter().map(|l| VggLayer { convs: l.into_iter().map(|c| Conv::new(c.w, c.b)).collect() }),
    );
    Ok((Vgg::new(layers, device), history))
}

/// The mean distillation loss of `student` over `batches` fixed batches (seeded by `seed`, so
/// every model is measured on the same crops): `(loss, feature, gram)`.
pub fn validation_loss(
    teacher: &Vgg,
    student: &Vgg,
    images: &TrainingImages,
    config: &DistillConfig,
    batches: usize,
    seed: u64,
    device: &Device,
) -> Result<(f64, f64, f64)> {
    let mut rng = SplitMix64::new(seed);
    let mut sum = [0.0f64; 3];
    for _ in 0..batches {
        let x = sample_batch(&[&images.images], &mut rng, config.batch, config.crop, device);
        let targets = teacher.features(x.clone(), &MATCHED, config.pooling);
        let (l, f, g) = distill_loss(student, x, &targets, config.gram_weight, config.pooling);
        let v = read_sync(Tensor::cat(vec![l, f, g], 0))?;
        for (s, v) in sum.iter_mut().zip(v) {
            *s += v as f64 / batches as f64;
        }
    }
    Ok((sum[0], sum[1], sum[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_diagonalises() {
        let n = 7;
        let mut rng = SplitMix64::new(3);
        let b: Vec<f64> = (0..n * n).map(|_| rng.uniform(-1.0, 1.0) as f64).collect();
        // A = BᵀB: symmetric positive semi-definite.
        let a: Vec<f64> = (0..n * n).map(|ij| (0..n).map(|k| b[k * n + ij / n] * b[k * n + ij % n]).sum()).collect();
        let (values, vectors) = symmetric_eigen(&a, n);
        assert!(values.windows(2).all(|w| w[0] >= w[1]));
        for k in 0..n {
            let v = &vectors[k * n..(k + 1) * n];
            let norm: f64 = v.iter().map(|x| x * x).sum();
            assert!((norm - 1.0).abs() < 1e-9);
            for i in 0..n {
                let av: f64 = (0..n).map(|j| a[i * n + j] * v[j]).sum();
                assert!((av - values[k] * v[i]).abs() < 1e-9, "A v != λ v");
            }
        }
    }

    #[test]
    fn ranks_meet_the_budget_and_spend_where_energy_is_cheap() {
        // Flat spectra everywhere but conv4_2, whose energy is all in its first 8 directions.
        let mut eig: Vec<Vec<f64>> = VGG16.iter().map(|s| vec![1.0; s.out_channels]).collect();
        eig[Layer::Conv4_2 as usize] = (0..512).map(|i| if i < 8 { 1.0 } else { 0.0 }).collect();
        let budget = 12_500_000_000;
        let ranks = allocate_ranks(&eig, budget, 1_450_000, 8).unwrap();
        let total: u64 = ranks.iter().enumerate().map(|(l, &r)| VGG16[l].macs(r, 512, 512)).sum();
        assert!(total <= budget);
        let params: u64 = ranks.iter().enumerate().map(|(l, &r)| VGG16[l].params(r)).sum();
        assert!(params <= 1_450_000);
        assert_eq!(ranks[0], None);
        assert_eq!(ranks[Layer::Conv4_2 as usize], Some(8));
        // An unlimited budget keeps the teacher.
        assert!(allocate_ranks(&eig, u64::MAX, u64::MAX, 8).unwrap().iter().all(Option::is_none));
    }
}
