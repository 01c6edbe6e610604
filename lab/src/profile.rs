//! `impasto-lab profile`: where one iteration's time goes, part by part — each layer's
//! convolutions forward and backward (to their input, as the image gradient needs), the ReLUs,
//! the poolings, the Gram matrices with their losses — beside the whole iteration, for each
//! model, so that what a student saves and what every model pays alike (the shared part) can be
//! told apart (a student's wall-clock speed-up is capped by the shared part).
//!
//! Each part runs alone on inputs of its real shape, through burn's autodiff as the product's
//! iteration does, seeded with a fixed random gradient of its output's shape and synchronised by
//! reading one number back; what that harness costs by itself (the same passes with nothing
//! between input and output) is subtracted. Medians of `--rounds` after one untimed round. The
//! models are profiled one after the other: read ratios of parts that differ by more than the
//! run-to-run noise (conv1_1, the same layer in both, varied 61–97 ms at 384²).

use std::path::PathBuf;

use burn::tensor::{Device, Distribution, Tensor, activation::relu};
use clap::Parser;
use impasto::cli::{BackendArg, pick_device};
use impasto::loss::{STYLE_LAYERS, gram, style_layer_loss};
use impasto::models::{self, ModelKind};
use impasto::vgg::{ConvAlgorithm, VGG16, Vgg};
use impasto::{Config, Error, Pooling, Result, Stylizer};
use serde::Serialize;

#[derive(Parser, Debug)]
pub struct ProfileArgs {
    /// Side of the square test image, pixels (at least 32).
    #[arg(long, default_value_t = 384)]
    size: u32,
    /// Models to profile.
    #[arg(long, value_delimiter = ',', value_enum, default_values_t = [ModelKind::Teacher, ModelKind::Distilled])]
    models: Vec<ModelKind>,
    /// Timed repetitions of each part (after one untimed); the median is reported.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    backend: BackendArg,
    /// JSON output file.
    #[arg(long, default_value = "profile.json")]
    out: PathBuf,
}

#[derive(Serialize)]
struct Part {
    backend: String,
    model: String,
    /// The convolution algorithm (`direct` or `gemm`).
    conv: String,
    size: u32,
    /// `iteration`, `conv`, `relu`, `pool` or `gram`.
    part: &'static str,
    /// The VGG layer (a pooling: the layer it feeds; the whole iteration: empty).
    layer: &'static str,
    /// Median milliseconds: a part forward and backward, the harness's own cost taken off; the
    /// whole iteration, its Adam step and loss readback included.
    ms: f64,
}

fn sync(t: &Tensor<4>) -> f32 {
    t.clone().sum().into_scalar()
}

/// Median of `rounds` timings of `f` (which must synchronise), after one untimed call (which
/// also waits for work queued before it, on a GPU).
fn time(rounds: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut ms: Vec<f64> = (0..rounds.max(1))
        .map(|_| {
            let t0 = impasto::clock::now_ms();
            f();
            impasto::clock::now_ms() - t0
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

/// Milliseconds of `f` on `x` forward and backward (to the input) through the autodiff device,
/// less the harness's own: the backward is seeded with a fixed random gradient of the output's
/// shape, made beforehand, through a product with the output and a sum, and the input gradient
/// is summed to synchronise — the same passes timed with nothing between input and output are
/// taken off. Medians of `rounds`.
fn forward_backward(rounds: usize, x: &Tensor<4>, f: impl Fn(Tensor<4>) -> Tensor<4>) -> Result<f64> {
    let seed: Tensor<4> = Tensor::random(f(x.clone()).dims(), Distribution::Normal(0.0, 1.0), &x.device()).autodiff();
    let timed = |input: &Tensor<4>, f: &dyn Fn(Tensor<4>) -> Tensor<4>| -> Result<f64> {
        let mut failed = None;
        let ms = time(rounds, || {
            let xa = input.clone().autodiff().require_grad();
            let grads = (f(xa.clone()) * seed.clone()).sum().backward();
            match xa.grad(&grads) {
                Some(g) => {
                    sync(&g.without_autodiff());
                }
                None => failed = Some(Error::Device("no gradient".into())),
            }
        });
        failed.map_or(Ok(ms), Err)
    };
    let part = timed(x, &f)?;
    let harness = timed(&seed.clone().without_autodiff(), &|t| t)?;
    Ok((part - harness).max(0.0))
}

fn profile_model(kind: ModelKind, model: &Vgg, device: &Device, backend: &str, a: &ProfileArgs, parts: &mut Vec<Part>) -> Result<()> {
    // The parts are timed through burn's autodiff, where a model of the host pass computes its
    // convolutions by the backend's own (ConvAlgorithm::Host); the iteration by the model's route.
    let layer_conv = match model.conv {
        ConvAlgorithm::Host => ConvAlgorithm::Direct,
        other => other,
    };
    let name = kind.name().to_string();
    let mut push = |part, layer, ms| {
        let conv = if part == "iteration" { model.conv } else { layer_conv }.name().to_string();
        eprintln!("impasto-lab: {name} {} {part} {layer} ({conv}): {ms:.1} ms", a.size);
        parts.push(Part { backend: backend.into(), model: name.clone(), conv, size: a.size, part, layer, ms });
    };
    // The whole iteration, as `bench` times it.
    let (content, style) = (crate::bench::pattern(a.size, 0.0), crate::bench::pattern(a.size, 1.3));
    let mut s = Stylizer::new(Config::default(), &content, &style, model.clone(), device.clone())?;
    let mut failed = None;
    let ms = time(a.rounds, || failed = pollster::block_on(s.step(1)).err());
    if let Some(e) = failed {
        return Err(e);
    }
    push("iteration", "", ms);

    let side = a.size as usize;
    let mut h: Tensor<4> = Tensor::random([1, 3, side, side], Distribution::Uniform(-120.0, 120.0), device);
    for (spec, layer) in VGG16.iter().zip(&model.layers) {
        if spec.pool_before {
            push("pool", spec.name, forward_backward(a.rounds, &h, |t| model.pool(t, Pooling::Avg))?);
            h = model.pool(h, Pooling::Avg);
        }
        push("conv", spec.name, forward_backward(a.rounds, &h, |t| layer.forward_linear(t, layer_conv))?);
        let z = layer.forward_linear(h, layer_conv);
        push("relu", spec.name, forward_backward(a.rounds, &z, relu)?);
        h = relu(z);
        if let Some((_, w)) = STYLE_LAYERS.iter().find(|(l, _)| *l == spec.layer) {
            let f = h.clone();
            let [_, c, fh, fw] = f.dims();
            let target = gram(f.clone());
            let loss = |t: Tensor<4>| style_layer_loss(gram(t), target.clone().autodiff(), c, fh * fw).mul_scalar(*w).reshape([1, 1, 1, 1]);
            push("gram", spec.name, forward_backward(a.rounds, &f, loss)?);
        }
    }
    Ok(())
}

/// Run `impasto-lab profile`.
pub fn profile_cmd(a: ProfileArgs) -> Result<()> {
    if a.size < 32 {
        return Err(Error::InvalidConfig(format!("--size {} is too small: conv5_1 needs at least 32 pixels", a.size)));
    }
    impasto::cli::check_writable(&a.out)?;
    let (device, backend) = pick_device(a.backend)?;
    let mut parts = Vec::new();
    for &kind in &a.models {
        let model = models::load(kind, &device)?;
        profile_model(kind, &model, &device, backend.name(), &a, &mut parts)?;
    }
    for &kind in &a.models {
        let of = |part: &str| -> f64 { parts.iter().filter(|p| p.model == kind.name() && p.part == part).map(|p| p.ms).sum() };
        let (iteration, conv) = (of("iteration"), of("conv"));
        let (relu, pool, gram) = (of("relu"), of("pool"), of("gram"));
        eprintln!(
            "impasto-lab: {} {}px: iteration {iteration:.0} ms = convolutions {conv:.0} + ReLUs {relu:.0} + poolings {pool:.0} + Grams {gram:.0} + the rest {:.0}",
            kind.name(),
            a.size,
            iteration - conv - relu - pool - gram
        );
    }
    let json = serde_json::to_string_pretty(&parts).map_err(|e| Error::Encode(e.to_string()))? + "\n";
    std::fs::write(&a.out, json).map_err(|e| Error::io(&a.out, e))?;
    eprintln!("impasto-lab: wrote {}", a.out.display());
    Ok(())
}
