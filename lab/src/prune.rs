//! A student of plain, narrower 3×3 convolutions fitted in closed form (`impasto-lab prune`).
//!
//! - **Channel pruning** (He, Zhang & Sun 2017, "Channel Pruning for Accelerating Very Deep
//!   Neural Networks"): the layers between the loss layers (conv1_2, conv2_2, conv3_2, conv3_3,
//!   conv4_3) keep only some of their output channels, so the layer after each reads fewer. The
//!   loss layers (conv1_1, conv2_1, conv3_1, conv4_1, conv4_2, conv5_1) keep the teacher's width:
//!   the losses and their CS20 weights are defined on it. Which channels stay: those whose
//!   contribution to the next layer's response is largest, `E[a_c²]·‖W_next[:, c]‖²` (He et al.
//!   choose them by LASSO; this is the cheaper energy rule, and the least squares below make up
//!   for part of what it misses).
//! - **Least-squares reconstruction given the student's own inputs** (Zhang, Zou, He & Sun 2015,
//!   "Accelerating Very Deep Convolutional Networks for Classification and Detection", §3.3, the
//!   asymmetric version): layer by layer, in order, each layer's weights and bias are solved in
//!   closed form so that, fed what the *student* computes below it, its pre-ReLU response matches
//!   what the *teacher* computes from the teacher's input — so errors do not pile up layer upon
//!   layer. Ridge-regularised normal equations, solved by Cholesky in f64.
//! - A loss layer may also be factorised (a 3×3 convolution to `r` channels, then 1×1 back), by
//!   PCA of the fitted layer's responses to the student's inputs (Zhang et al. §3.1): conv4_2 at
//!   1/8 resolution is the one place where a full 512→512 layer costs too much.
//!
//! Samples: random crops of the training images, half of them mixed with noise as a Gatys start
//! image is (`distill::sample_batch`), and of snapshots along style transfers — what the
//! optimizer actually feeds the network (the second route to a student): with `self_stylized` > 0, CS20
//! runs between training images driven first by the teacher, then, each further round, by the
//! student just fitted, whose snapshots join the pool before the whole student is fitted again
//! (DAgger's rounds, Ross et al. 2011: see `distill::self_stylizations`). No gradient descent:
//! seconds per layer on the CPU.
//!
//! Re-fitting an existing factorised student (`--init`, e.g. the committed model): its 3×3
//! reductions are kept and only what follows each — the 1×1 convolution back to the teacher's
//! width — is solved again the same way, given the student's own inputs, on the same samples;
//! its own style transfers drive the first round. A layer given a rank is made again at it (the
//! teacher's layer fitted to the student's inputs, then factorised as above); a layer of the
//! base that is one convolution is fitted whole as a pruned layer is (conv1_1: the teacher's).

use burn::tensor::{Device, Int, Tensor, TensorData, activation::relu};

use impasto::device::read_sync;
use impasto::error::{Error, Result};
use impasto::image_io::Image;
use impasto::loss::LOSS_LAYERS;
use impasto::rng::SplitMix64;
use impasto::vgg::{Conv, Layer, MEAN_RGB, Pooling, VGG16, Vgg, VggLayer};

use crate::distill::{TrainingImages, Transfers, sample_batch, symmetric_eigen};

/// What `impasto-lab prune` builds.
#[derive(Clone, Debug)]
pub struct PruneConfig {
    /// Output channels kept by layers between the loss layers; those not named keep all.
    pub widths: Vec<(Layer, usize)>,
    /// Loss layers factorised to this rank (3×3 to r, 1×1 back); others stay one convolution.
    pub ranks: Vec<(Layer, usize)>,
    /// Batches of crops whose responses are fitted.
    pub batches: usize,
    /// Crops per batch.
    pub batch: usize,
    /// Crop side, pixels.
    pub crop: usize,
    /// At most this many positions of a batch enter the fit of a layer (drawn at random).
    pub rows_per_batch: usize,
    /// Ridge: this share of the mean diagonal of XᵀX is added to it.
    pub ridge: f64,
    /// Seed of crops, flips, noise and sampled positions.
    pub seed: u64,
    /// Pooling between blocks (CS20: average).
    pub pooling: Pooling,
    /// Style transfers per round whose snapshots join the samples (0: photos only).
    pub self_stylized: usize,
    /// Their long side, pixels (raised where the short side would fall below the crop).
    pub self_side: u32,
    /// Adam iterations of each (CS20 settings otherwise); snapshots at a third, two thirds, the end.
    pub self_iterations: u32,
    /// Fits: the first on the teacher's runs, each further one adding the last student's.
    pub rounds: usize,
}

impl Default for PruneConfig {
    fn default() -> Self {
        PruneConfig {
            widths: vec![
                (Layer::Conv1_2, 16),
                (Layer::Conv2_2, 32),
                (Layer::Conv3_2, 64),
                (Layer::Conv3_3, 64),
                (Layer::Conv4_3, 64),
            ],
            ranks: vec![(Layer::Conv4_2, 64)],
            batches: 12,
            batch: 8,
            crop: 128,
            rows_per_batch: 4096,
            ridge: 1e-3,
            seed: 0,
            pooling: Pooling::Avg,
            self_stylized: 0,
            self_side: 160,
            self_iterations: 90,
            rounds: 1,
        }
    }
}

impl PruneConfig {
    /// The configuration as JSON, for the weight file's report (layers by name).
    pub fn to_json(&self) -> serde_json::Value {
        let named = |v: &[(Layer, usize)]| v.iter().map(|(l, n)| (l.to_string(), serde_json::json!(n))).collect::<serde_json::Map<_, _>>();
        serde_json::json!({
            "widths": named(&self.widths), "ranks": named(&self.ranks), "batches": self.batches,
            "batch": self.batch, "crop": self.crop, "rows_per_batch": self.rows_per_batch,
            "ridge": self.ridge, "seed": self.seed, "pooling": format!("{:?}", self.pooling),
            "self_stylized": self.self_stylized, "self_side": self.self_side,
            "self_iterations": self.self_iterations, "rounds": self.rounds,
        })
    }

    /// Output channels kept by `layer`.
    pub fn width(&self, layer: Layer) -> usize {
        self.widths.iter().find(|(l, _)| *l == layer).map_or(layer.spec().out_channels, |&(_, w)| w)
    }

    /// The rank `layer` is factorised to, if it is.
    pub fn rank(&self, layer: Layer) -> Option<usize> {
        self.ranks.iter().find(|(l, _)| *l == layer).map(|&(_, r)| r)
    }

    /// The style transfers each round adds.
    pub fn transfers(&self) -> Transfers {
        Transfers {
            count: self.self_stylized,
            side: self.self_side,
            iterations: self.self_iterations,
            crop: self.crop,
            pooling: self.pooling,
        }
    }

    /// Widths only between loss layers, within the teacher's; ranks only at loss layers (any
    /// layer after conv1_1 when `refit`: a re-fitted student's layers made again at that rank,
    /// see [`prune`]); at least one round, and more only with style transfers to add.
    pub fn check(&self, refit: bool) -> Result<()> {
        if self.rounds == 0 {
            return Err(Error::InvalidConfig("prune needs at least one round".into()));
        }
        if self.rounds > 1 && self.self_stylized == 0 {
            return Err(Error::InvalidConfig(
                "more than one round needs style transfers to add (--self-stylized N)".into(),
            ));
        }
        for &(layer, w) in &self.widths {
            if LOSS_LAYERS.contains(&layer) || layer == Layer::Conv5_1 {
                return Err(Error::InvalidConfig(format!("{layer} is a loss layer: it keeps the teacher's width")));
            }
            if w == 0 || w > layer.spec().out_channels {
                return Err(Error::InvalidConfig(format!("{layer} has 1 to {} channels, not {w}", layer.spec().out_channels)));
            }
        }
        for &(layer, r) in &self.ranks {
            if layer == Layer::Conv1_1 || !(refit || LOSS_LAYERS.contains(&layer)) {
                let which = if refit { "layers" } else { "loss layers" };
                return Err(Error::InvalidConfig(format!("only {which} after conv1_1 are factorised, not {layer}")));
            }
            if r == 0 || r >= layer.spec().out_channels {
                return Err(Error::InvalidConfig(format!("{layer}'s rank must be below {}", layer.spec().out_channels)));
            }
        }
        Ok(())
    }
}

/// One line of the fit's log: how well each layer's response is reconstructed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerFit {
    /// The layer.
    pub layer: String,
    /// Output channels kept.
    pub width: usize,
    /// Its rank, if factorised.
    pub rank: Option<usize>,
    /// Rows (positions) fitted.
    pub rows: usize,
    /// Relative squared error of the pre-ReLU response on the fitted samples,
    /// ‖ŷ − y‖² / ‖y − ȳ‖², student's input against the teacher's (ȳ: one mean over all channels
    /// and positions, so channels of different means make the denominator larger than the sum of
    /// per-channel variances).
    pub relative_error: f64,
}

/// Seed of the style transfers' draws (pairs and run seeds), from `config.seed`: apart from the
/// crops', so that a fit without transfers draws exactly the crops it always drew.
pub const TRANSFER_SEED: u64 = 0x5eed_5e1f;

/// Build the student from the teacher in `config.rounds` fits (see the module's documentation):
/// the snapshots of the teacher's style transfers, then of each fitted student's, join the
/// training images' crops. `log` gets each layer's fit; `round` each round's number (from 0),
/// the snapshots it fitted on, and its student.
///
/// With `base`, a student of the teacher's widths is re-fitted instead (see the module's
/// documentation): `config`'s widths are not used, a layer given a rank in `config.ranks` is made
/// again at that rank (the teacher's layer fitted to the student's inputs, factorised by PCA, its
/// 1×1 solved again; mind that [`PruneConfig::default`] names conv4_2), and the first round's
/// transfers are the base's own.
#[allow(clippy::too_many_arguments)]
pub fn prune(
    teacher: &Vgg,
    base: Option<&Vgg>,
    images: &TrainingImages,
    config: &PruneConfig,
    device: &Device,
    log: &mut dyn FnMut(&LayerFit),
    round: &mut dyn FnMut(usize, &[Image], &Vgg),
) -> Result<(Vgg, Vec<LayerFit>)> {
    config.check(base.is_some())?;
    if let Some(base) = base {
        check_base(teacher, base)?;
    }
    let transfers = config.transfers();
    let mut rng = SplitMix64::new(config.seed ^ TRANSFER_SEED);
    let mut snapshots = Vec::new();
    let mut driver = base.unwrap_or(teacher).clone();
    for r in 0..config.rounds {
        if config.self_stylized > 0 {
            snapshots.extend(crate::distill::self_stylizations(&driver, &images.images, &transfers, &mut rng, device)?);
        }
        let (student, fits) = fit(teacher, base, &[&images.images, &snapshots], config, device, log)?;
        round(r, &snapshots, &student);
        if r + 1 == config.rounds {
            return Ok((student, fits));
        }
        driver = student;
    }
    unreachable!("check() asks for at least one round, and the last returns")
}

/// A student [`prune`] can re-fit: the teacher's eleven layers, each one convolution or a
/// 3×3 reduction and a 1×1 back, ending at the teacher's width.
fn check_base(teacher: &Vgg, base: &Vgg) -> Result<()> {
    let fits = base.layers.len() == teacher.layers.len()
        && base.layers.iter().zip(VGG16.iter()).all(|(layer, spec)| {
            let out = layer.convs.last().map(|c| c.weight.val().dims()[0]);
            let shape_ok = match &layer.convs[..] {
                [_] => true,
                [_, back] => back.weight.val().dims()[2] == 1,
                _ => false,
            };
            shape_ok && out == Some(spec.out_channels)
        });
    if fits {
        Ok(())
    } else {
        Err(Error::InvalidConfig("re-fitting needs a student of the teacher's widths (one convolution, or a 3×3 reduction and a 1×1 back, per layer)".into()))
    }
}

/// One fit of the student, layer by layer, on crops drawn from `pools` (with `base`, a re-fit of
/// its 1×1 convolutions: [`prune`]).
fn fit(
    teacher: &Vgg,
    base: Option<&Vgg>,
    pools: &[&[Image]],
    config: &PruneConfig,
    device: &Device,
    log: &mut dyn FnMut(&LayerFit),
) -> Result<(Vgg, Vec<LayerFit>)> {
    let mut rng = SplitMix64::new(config.seed);
    let mean = Tensor::<1>::from_data(TensorData::new(MEAN_RGB.to_vec(), [3]), device).reshape([1, 3, 1, 1]);
    // Each batch's input at the current layer, as the teacher and as the student compute it.
    let mut teacher_in: Vec<Tensor<4>> = Vec::with_capacity(config.batches);
    for _ in 0..config.batches {
        let x = sample_batch(pools, &mut rng, config.batch, config.crop, device);
        teacher_in.push(x - mean.clone());
    }
    let mut student_in = teacher_in.clone();
    let mut layers: Vec<VggLayer> = Vec::with_capacity(VGG16.len());
    let mut fits = Vec::new();
    for (l, spec) in VGG16.iter().enumerate() {
        if spec.pool_before {
            teacher_in = teacher_in.into_iter().map(|x| pool(x, config.pooling)).collect();
            student_in = student_in.into_iter().map(|x| pool(x, config.pooling)).collect();
        }
        let conv = &teacher.layers[l].convs[0];
        // The teacher's pre-activations at this layer, all of its channels (their ReLU is the
        // teacher's input to the next layer).
        let full: Vec<Tensor<4>> = teacher_in.iter().map(|x| conv.forward_with(x.clone(), teacher.conv)).collect();
        // Which output channels stay (the teacher's order).
        let keep = match VGG16.get(l + 1) {
            Some(next) if base.is_none() && config.width(spec.layer) < spec.out_channels => {
                let next_conv = &teacher.layers[l + 1].convs[0];
                let inputs: Vec<Tensor<4>> = full
                    .iter()
                    .map(|y| if next.pool_before { pool(relu(y.clone()), config.pooling) } else { relu(y.clone()) })
                    .collect();
                select_channels(&inputs, next_conv, config.width(spec.layer))?
            }
            _ => (0..spec.out_channels).collect(),
        };
        let keep_idx = Tensor::<1, Int>::from_data(TensorData::new(keep.iter().map(|&k| k as i64).collect::<Vec<_>>(), [keep.len()]), device);
        let targets: Vec<Tensor<4>> = full.iter().map(|y| y.clone().select(1, keep_idx.clone())).collect();
        let base_layer = base.map(|b| &b.layers[l]);
        let (layer, error, rows) = {
            let refit_back = |reduce: &Conv, rng: &mut SplitMix64| -> Result<VggLayer> {
                let reduced: Vec<Tensor<4>> = student_in.iter().map(|x| reduce.forward_with(x.clone(), teacher.conv)).collect();
                Ok(VggLayer { convs: vec![reduce.clone(), least_squares_conv(&reduced, &targets, 1, config, rng)?] })
            };
            let remade = base.and(config.rank(spec.layer));
            let layer = if let Some(r) = remade {
                // Made again at rank r: the teacher's layer fitted to the student's inputs,
                // factorised by PCA, its 1×1 back then solved from what the reduction computes.
                let fitted = least_squares_conv(&student_in, &targets, 3, config, &mut rng)?;
                let pca = factorise(&fitted, &student_in, r, teacher.conv)?;
                refit_back(&pca.convs[0], &mut rng)?
            } else if let Some([reduce, _]) = base_layer.map(|b| &b.convs[..]) {
                // Keep the base's 3×3 reduction; solve the 1×1 back from what it computes.
                refit_back(reduce, &mut rng)?
            } else if l == 0 {
                // conv1_1 reads the image itself: the student's input is the teacher's, and so is
                // the layer (0.45 GMAC at 512²).
                VggLayer {
                    convs: vec![Conv::new(conv.weight.val().select(0, keep_idx.clone()), conv.bias.val().select(0, keep_idx.clone()))],
                }
            } else {
                let fitted = least_squares_conv(&student_in, &targets, 3, config, &mut rng)?;
                match config.rank(spec.layer).filter(|_| base.is_none()) {
                    Some(r) => factorise(&fitted, &student_in, r, teacher.conv)?,
                    None => VggLayer { convs: vec![fitted] },
                }
            };
            let (error, rows) = relative_error(&layer, &student_in, &targets, teacher.conv)?;
            (layer, error, rows)
        };
        let rank = if layer.convs.len() == 2 { Some(layer.convs[0].weight.val().dims()[0]) } else { None };
        let fit = LayerFit { layer: spec.name.to_string(), width: keep.len(), rank, rows, relative_error: error };
        log(&fit);
        fits.push(fit);
        // The next layer's inputs: the teacher's from the teacher, the student's from itself.
        student_in = student_in.into_iter().map(|x| relu(layer.forward_linear(x, teacher.conv))).collect();
        teacher_in = full.into_iter().map(relu).collect();
        layers.push(layer);
    }
    Ok((Vgg::new(layers, device), fits))
}

fn pool(x: Tensor<4>, pooling: Pooling) -> Tensor<4> {
    use burn::tensor::module::{avg_pool2d, max_pool2d};
    use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
    match pooling {
        Pooling::Avg => avg_pool2d(x, AvgPoolOptions::new([2, 2])),
        Pooling::Max => max_pool2d(x, MaxPoolOptions::new([2, 2])),
    }
}

/// The `k` channels of `inputs` (a layer's activations, as the next layer reads them) that carry
/// most of the next layer's response: score `E[a_c²]·‖W[:, c]‖²`, highest first, returned in
/// channel order.
fn select_channels(inputs: &[Tensor<4>], next: &Conv, k: usize) -> Result<Vec<usize>> {
    let c = inputs[0].dims()[1];
    let mut energy = vec![0.0f64; c];
    for x in inputs {
        let [b, _, h, w] = x.dims();
        let e = x.clone().square().swap_dims(0, 1).reshape([c, b * h * w]).mean_dim(1).reshape([c]);
        for (acc, v) in energy.iter_mut().zip(read_sync(e)?) {
            *acc += v as f64;
        }
    }
    let [o, _, kh, kw] = next.weight.val().dims();
    let norms = read_sync(next.weight.val().square().swap_dims(0, 1).reshape([c, o * kh * kw]).sum_dim(1).reshape([c]))?;
    let mut order: Vec<usize> = (0..c).collect();
    let score = |i: usize| energy[i] * norms[i] as f64;
    order.sort_by(|&a, &b| score(b).total_cmp(&score(a)));
    let mut keep = order[..k].to_vec();
    keep.sort_unstable();
    Ok(keep)
}

/// The `k`×`k` neighbourhoods (k = 1 or 3) of every position of `x` `[b, c, h, w]` (zero
/// padding), as rows `[b·h·w, k²c + 1]` ordered as a weight `[o, c, k, k]` flattens, with a final
/// 1 for the bias.
fn patches(x: &Tensor<4>, k: usize) -> Tensor<2> {
    let [b, c, h, w] = x.dims();
    let ones = Tensor::<2>::ones([b * h * w, 1], &x.device());
    if k == 1 {
        return Tensor::cat(vec![rows_of(x), ones], 1);
    }
    let xp = x.clone().pad([(0, 0), (0, 0), (1, 1), (1, 1)], burn::tensor::ops::PadMode::Constant(0.0));
    let shifted: Vec<Tensor<4>> =
        (0..9).map(|t| xp.clone().slice([0..b, 0..c, t / 3..t / 3 + h, t % 3..t % 3 + w])).collect();
    let stacked = Tensor::stack::<5>(shifted, 2); // [b, c, 9, h, w]
    let rows = stacked.permute([0, 3, 4, 1, 2]).reshape([b * h * w, 9 * c]);
    Tensor::cat(vec![rows, ones], 1)
}

/// `y` `[b, o, h, w]` as rows `[b·h·w, o]` in [`patches`]' order.
fn rows_of(y: &Tensor<4>) -> Tensor<2> {
    let [b, o, h, w] = y.dims();
    y.clone().permute([0, 2, 3, 1]).reshape([b * h * w, o])
}

/// At most `n` row indices of `total`, drawn without replacement (all, in order, if fewer).
fn sample_rows(total: usize, n: usize, rng: &mut SplitMix64, device: &Device) -> Option<Tensor<1, Int>> {
    if total <= n {
        return None;
    }
    let mut idx: Vec<usize> = (0..total).collect();
    for i in 0..n {
        let j = i + (rng.next_u64() % (total - i) as u64) as usize;
        idx.swap(i, j);
    }
    let mut chosen: Vec<i64> = idx[..n].iter().map(|&i| i as i64).collect();
    chosen.sort_unstable();
    Some(Tensor::from_data(TensorData::new(chosen, [n]), device))
}

/// The `k`×`k` convolution (k = 1 or 3, with bias) from `inputs` to `targets` of least squared
/// error over the sampled positions of every batch, ridge-regularised: `(XᵀX + λI) W = XᵀY`.
fn least_squares_conv(inputs: &[Tensor<4>], targets: &[Tensor<4>], k: usize, config: &PruneConfig, rng: &mut SplitMix64) -> Result<Conv> {
    let c = inputs[0].dims()[1];
    let o = targets[0].dims()[1];
    let taps = k * k;
    let d = taps * c + 1;
    let mut xtx = vec![0.0f64; d * d];
    let mut xty = vec![0.0f64; d * o];
    for (x, y) in inputs.iter().zip(targets) {
        let (mut xr, mut yr) = (patches(x, k), rows_of(y));
        if let Some(idx) = sample_rows(xr.dims()[0], config.rows_per_batch, rng, &x.device()) {
            xr = xr.select(0, idx.clone());
            yr = yr.select(0, idx);
        }
        let xt = xr.clone().transpose();
        for (acc, v) in xtx.iter_mut().zip(read_sync(xt.clone().matmul(xr))?) {
            *acc += v as f64;
        }
        for (acc, v) in xty.iter_mut().zip(read_sync(xt.matmul(yr))?) {
            *acc += v as f64;
        }
    }
    let lambda = config.ridge * (0..d).map(|i| xtx[i * d + i]).sum::<f64>() / d as f64;
    for i in 0..d - 1 {
        xtx[i * d + i] += lambda; // not on the bias
    }
    let w = solve_spd(xtx, d, &xty, o)?; // [d, o]
    // Back to [o, c, k, k] and [o].
    let mut weight = vec![0.0f32; o * taps * c];
    let mut bias = vec![0.0f32; o];
    for j in 0..o {
        for i in 0..taps * c {
            weight[j * taps * c + i] = w[i * o + j] as f32;
        }
        bias[j] = w[(d - 1) * o + j] as f32;
    }
    let device = inputs[0].device();
    Ok(Conv::new(
        Tensor::from_data(TensorData::new(weight, [o, c, k, k]), &device),
        Tensor::from_data(TensorData::new(bias, [o]), &device),
    ))
}

/// Solve `A X = B` for symmetric positive definite `A` (`n`×`n`, row-major) and `B` (`n`×`m`) by
/// Cholesky, in f64.
pub fn solve_spd(mut a: Vec<f64>, n: usize, b: &[f64], m: usize) -> Result<Vec<f64>> {
    // A = L Lᵀ, L stored in the lower triangle of `a`.
    for j in 0..n {
        let mut diag = a[j * n + j];
        for k in 0..j {
            diag -= a[j * n + k] * a[j * n + k];
        }
        if diag.is_nan() || diag <= 0.0 {
            return Err(Error::InvalidConfig(format!("the normal equations are not positive definite (pivot {j}): raise --ridge")));
        }
        let diag = diag.sqrt();
        a[j * n + j] = diag;
        let (head, tail) = a.split_at_mut((j + 1) * n);
        let row_j = &head[j * n..j * n + j];
        for i in j + 1..n {
            let row_i = &mut tail[(i - j - 1) * n..(i - j) * n];
            let dot: f64 = row_i[..j].iter().zip(row_j).map(|(p, q)| p * q).sum();
            row_i[j] = (row_i[j] - dot) / diag;
        }
    }
    // Forward (L Z = B) then back (Lᵀ X = Z), all columns at once.
    let mut x = b.to_vec();
    for i in 0..n {
        for k in 0..i {
            let l = a[i * n + k];
            if l != 0.0 {
                let (done, rest) = x.split_at_mut(i * m);
                for (xi, xk) in rest[..m].iter_mut().zip(&done[k * m..k * m + m]) {
                    *xi -= l * xk;
                }
            }
        }
        let d = a[i * n + i];
        x[i * m..i * m + m].iter_mut().for_each(|v| *v /= d);
    }
    for i in (0..n).rev() {
        for k in i + 1..n {
            let l = a[k * n + i];
            if l != 0.0 {
                let (head, rest) = x.split_at_mut(k * m);
                for (xi, xk) in head[i * m..i * m + m].iter_mut().zip(&rest[..m]) {
                    *xi -= l * xk;
                }
            }
        }
        let d = a[i * n + i];
        x[i * m..i * m + m].iter_mut().for_each(|v| *v /= d);
    }
    Ok(x)
}

/// `conv` as a 3×3 convolution to `r` channels and a 1×1 back: the top `r` principal directions
/// `P` of its responses on `inputs` (mean `μ`), `y ≈ P·(Pᵀ(W∗x + b − μ)) + μ` (Zhang et al. §3.1).
fn factorise(conv: &Conv, inputs: &[Tensor<4>], r: usize, algorithm: impasto::vgg::ConvAlgorithm) -> Result<VggLayer> {
    let [o, c, kh, kw] = conv.weight.val().dims();
    let mut outer = vec![0.0f64; o * o];
    let mut sum = vec![0.0f64; o];
    let mut count = 0.0f64;
    for x in inputs {
        let y = rows_of(&conv.forward_with(x.clone(), algorithm));
        count += y.dims()[0] as f64;
        for (acc, v) in outer.iter_mut().zip(read_sync(y.clone().transpose().matmul(y.clone()))?) {
            *acc += v as f64;
        }
        for (acc, v) in sum.iter_mut().zip(read_sync(y.sum_dim(0).reshape([o]))?) {
            *acc += v as f64;
        }
    }
    let mu: Vec<f64> = sum.iter().map(|s| s / count).collect();
    let mut cov = vec![0.0f64; o * o];
    for i in 0..o {
        for j in 0..o {
            cov[i * o + j] = outer[i * o + j] / count - mu[i] * mu[j];
        }
    }
    let (_, vectors) = symmetric_eigen(&cov, o);
    let device = conv.weight.val().device();
    let p: Vec<f32> = (0..o).flat_map(|i| (0..r).map(move |k| (k, i))).map(|(k, i)| vectors[k * o + i] as f32).collect();
    let p = Tensor::<2>::from_data(TensorData::new(p, [o, r]), &device);
    let pt = p.clone().transpose();
    let w = conv.weight.val().reshape([o, c * kh * kw]);
    let mu_t = Tensor::<1>::from_data(TensorData::new(mu.iter().map(|&m| m as f32).collect::<Vec<_>>(), [o]), &device);
    let reduce_w = pt.clone().matmul(w).reshape([r, c, kh, kw]);
    let reduce_b = pt.matmul((conv.bias.val() - mu_t.clone()).reshape([o, 1])).reshape([r]);
    Ok(VggLayer { convs: vec![Conv::new(reduce_w, reduce_b), Conv::new(p.reshape([o, r, 1, 1]), mu_t)] })
}

/// ‖ŷ − y‖² / ‖y − ȳ‖² of `layer` on `inputs` against `targets` (pre-ReLU), and the positions.
fn relative_error(layer: &VggLayer, inputs: &[Tensor<4>], targets: &[Tensor<4>], algorithm: impasto::vgg::ConvAlgorithm) -> Result<(f64, usize)> {
    let (mut err, mut sum, mut sq, mut n) = (0.0f64, 0.0f64, 0.0f64, 0usize);
    for (x, y) in inputs.iter().zip(targets) {
        let yh = layer.forward_linear(x.clone(), algorithm);
        err += read_sync((yh - y.clone()).square().sum())?[0] as f64;
        sum += read_sync(y.clone().sum())?[0] as f64;
        sq += read_sync(y.clone().square().sum())?[0] as f64;
        let [b, o, h, w] = y.dims();
        n += b * o * h * w;
    }
    let var = sq - sum * sum / n as f64;
    let positions = n / targets[0].dims()[1];
    Ok((err / var.max(f64::MIN_POSITIVE), positions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_small_system() {
        // A = [[4, 2], [2, 3]], X = [[1, -1], [2, 0.5]] → B = A X.
        let a = vec![4.0, 2.0, 2.0, 3.0];
        let x = [1.0, -1.0, 2.0, 0.5];
        let b: Vec<f64> = (0..2).flat_map(|i| (0..2).map(move |j| (i, j))).map(|(i, j)| a[i * 2] * x[j] + a[i * 2 + 1] * x[2 + j]).collect();
        let got = solve_spd(a, 2, &b, 2).unwrap();
        for (g, w) in got.iter().zip(x) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
        assert!(solve_spd(vec![1.0, 2.0, 2.0, 1.0], 2, &[1.0, 1.0], 1).is_err(), "indefinite");
    }

    #[test]
    fn least_squares_recovers_a_convolution() {
        // A random 3×3 (and 1×1) convolution's own responses are fitted back exactly (up to the
        // ridge).
        let device = impasto::device::cpu();
        let mut rng = SplitMix64::new(1);
        let mut rand = |n: usize| (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect::<Vec<f32>>();
        let (c, o) = (3, 4);
        for k in [3, 1] {
            let truth = Conv::new(
                Tensor::from_data(TensorData::new(rand(o * c * k * k), [o, c, k, k]), &device),
                Tensor::from_data(TensorData::new(rand(o), [o]), &device),
            );
            let x: Vec<Tensor<4>> = (0..2).map(|_| Tensor::from_data(TensorData::new(rand(2 * c * 8 * 8), [2, c, 8, 8]), &device)).collect();
            let y: Vec<Tensor<4>> = x.iter().map(|x| truth.forward_with(x.clone(), impasto::vgg::ConvAlgorithm::Direct)).collect();
            let config = PruneConfig { ridge: 1e-9, rows_per_batch: 100, ..PruneConfig::default() };
            let fitted = least_squares_conv(&x, &y, k, &config, &mut SplitMix64::new(2)).unwrap();
            assert_eq!(fitted.weight.val().dims(), [o, c, k, k]);
            let diff = (fitted.weight.val() - truth.weight.val()).abs().max() + (fitted.bias.val() - truth.bias.val()).abs().max();
            assert!(read_sync(diff).unwrap()[0] < 1e-3, "{k}x{k}");
            let layer = VggLayer { convs: vec![fitted] };
            let (err, rows) = relative_error(&layer, &x, &y, impasto::vgg::ConvAlgorithm::Direct).unwrap();
            assert!(err < 1e-6, "{k}x{k}: {err}");
            assert_eq!(rows, 2 * 2 * 8 * 8);
        }
    }
}
