//! `impasto-lab distill` and `impasto-lab prune`: build a student from the teacher (lab/src/distill.rs, lab/src/prune.rs).

use std::path::PathBuf;

use clap::Parser;
use impasto::cli::{BackendArg, check_writable, pick_device, read_file};
use impasto::models::{self, ModelKind};
use impasto::vgg::{Layer, Pooling};
use impasto::Result;
use impasto_lab::distill::DistillConfig;
use impasto_lab::prune::PruneConfig;

#[derive(Parser, Debug)]
pub struct DistillArgs {
    /// Directory of training images (scripts/fetch-training-images fills data/train).
    #[arg(long, default_value = "data/train")]
    images: PathBuf,
    /// Where to write the student's weights (f16).
    #[arg(short, long, default_value = "models/vgg16-distilled.bpk")]
    output: PathBuf,
    /// Continue fine-tuning this student instead of initialising one from the teacher.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Budget of a forward pass at 512x512, GMAC (the teacher: 75.3).
    #[arg(long, default_value_t = DistillConfig::default().max_gmacs)]
    max_gmacs: f64,
    /// Budget of parameters (2 bytes each in the f16 file).
    #[arg(long, default_value_t = DistillConfig::default().max_params)]
    max_params: u64,
    /// Ranks are multiples of this.
    #[arg(long, default_value_t = DistillConfig::default().rank_step)]
    rank_step: usize,
    /// Batches of crops for the PCA statistics.
    #[arg(long, default_value_t = DistillConfig::default().pca_batches)]
    pca_batches: usize,
    /// Fine-tuning steps (0: PCA initialisation only).
    #[arg(long, default_value_t = DistillConfig::default().steps)]
    steps: usize,
    /// Crops per batch.
    #[arg(long, default_value_t = DistillConfig::default().batch)]
    batch: usize,
    /// Crop side, pixels.
    #[arg(long, default_value_t = DistillConfig::default().crop)]
    crop: usize,
    /// Adam's learning rate for the weights.
    #[arg(long, default_value_t = DistillConfig::default().learning_rate)]
    learning_rate: f32,
    /// Weight of the Gram term.
    #[arg(long, default_value_t = DistillConfig::default().gram_weight)]
    gram_weight: f32,
    /// Training images are first resized to at most this long side.
    #[arg(long, default_value_t = 384)]
    max_side: u32,
    /// Fixed batches for the validation loss before and after fine-tuning.
    #[arg(long, default_value_t = 8)]
    validation_batches: usize,
    /// A log line every this many steps.
    #[arg(long, default_value_t = DistillConfig::default().log_every)]
    log_every: usize,
    /// Stop fine-tuning after this many seconds (and write the student as it is).
    #[arg(long)]
    max_seconds: Option<f64>,
    /// Seed of crops, flips and noise.
    #[arg(long, default_value_t = DistillConfig::default().seed)]
    seed: u64,
    /// Before fine-tuning, run this many style transfers with the student itself (content and
    /// style drawn from the training images) and train on their images too, labelled by the
    /// teacher: they show the student what its own optimization produces (0: none).
    #[arg(long, default_value_t = DistillConfig::default().self_stylized)]
    self_stylized: usize,
    /// Long side of those transfers, pixels.
    #[arg(long, default_value_t = DistillConfig::default().self_side)]
    self_side: u32,
    /// Adam iterations of each of those transfers.
    #[arg(long, default_value_t = DistillConfig::default().self_iterations)]
    self_iterations: u32,
    /// Layers taken whole from the teacher (unfactorised) instead of the initial student's,
    /// comma-separated (e.g. conv3_1): they cost their full GMACs (printed).
    #[arg(long, value_delimiter = ',', value_parser = parse_layer)]
    full: Vec<Layer>,
    /// After fine-tuning, multiply a layer's activations by a factor, LAYER=FACTOR (e.g.
    /// conv3_1=1.5; repeatable or comma-separated): its style term weighs FACTOR⁴ as much in the
    /// student's optimization, every later activation unchanged (distill::rescale).
    #[arg(long = "scale", value_delimiter = ',', value_parser = parse_layer_scale)]
    scales: Vec<(Layer, f32)>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
}

/// A layer's name, e.g. `conv3_1`.
fn parse_layer(name: &str) -> std::result::Result<Layer, String> {
    Layer::from_name(name.trim()).ok_or_else(|| format!("no layer named {:?} (conv1_1 … conv5_1)", name.trim()))
}

/// `LAYER=FACTOR`, e.g. `conv3_1=1.5`.
fn parse_layer_scale(text: &str) -> std::result::Result<(Layer, f32), String> {
    let (name, factor) = text.split_once('=').ok_or_else(|| format!("expected LAYER=FACTOR, got {text:?}"))?;
    let layer = parse_layer(name)?;
    let factor: f32 = factor.trim().parse().map_err(|_| format!("{:?} is not a number", factor.trim()))?;
    if !(factor.is_finite() && factor > 0.0) {
        return Err(format!("the factor must be positive, got {factor}"));
    }
    Ok((layer, factor))
}

/// Run `impasto-lab distill`.
pub fn distill_cmd(a: DistillArgs) -> Result<()> {
    use impasto_lab::distill::{self, TrainingImages};
    use impasto::rng::SplitMix64;
    let config = DistillConfig {
        max_gmacs: a.max_gmacs,
        max_params: a.max_params,
        rank_step: a.rank_step.max(1),
        pca_batches: a.pca_batches.max(1),
        steps: a.steps,
        batch: a.batch.max(1),
        crop: a.crop.max(32),
        learning_rate: a.learning_rate,
        gram_weight: a.gram_weight,
        seed: a.seed,
        pooling: Pooling::Avg,
        max_seconds: a.max_seconds,
        log_every: a.log_every,
        self_stylized: a.self_stylized,
        self_side: a.self_side,
        self_iterations: a.self_iterations,
    };
    check_writable(&a.output)?;
    let t0 = impasto::clock::now_ms();
    let (device, backend) = pick_device(a.backend)?;
    let teacher = models::load(ModelKind::Teacher, &device)?;
    let images = TrainingImages::load(&a.images, a.max_side, config.crop as u32)?;
    eprintln!(
        "impasto: {} training images ({} skipped) on {}",
        images.images.len(),
        images.skipped.len(),
        backend.name()
    );
    let mut rng = SplitMix64::new(config.seed);
    let student = match &a.init {
        Some(path) => impasto::vgg::Vgg::from_bytes(read_file(path)?, &device)?,
        None => {
            let stats = distill::response_stats(&teacher, &images, &config, &mut rng, &device)?;
            let eigen = distill::eigen(&stats);
            let eigenvalues: Vec<Vec<f64>> = eigen.iter().map(|(v, _)| v.clone()).collect();
            let ranks = distill::allocate_ranks(&eigenvalues, (config.max_gmacs * 1e9) as u64, config.max_params, config.rank_step)?;
            distill::factorize(&teacher, &stats, &eigen, &ranks, &device)?
        }
    };
    let student = distill::with_teacher_layers(&student, &teacher, &a.full, &device);
    let gmacs = student.macs(512, 512) as f64 / 1e9;
    let ranks: Vec<String> = impasto::vgg::VGG16
        .iter()
        .zip(student.ranks())
        .map(|(s, r)| format!("{}:{}", s.name, r.map_or("full".to_string(), |r| r.to_string())))
        .collect();
    eprintln!("impasto: student {gmacs:.2} GMAC at 512x512, {} parameters; ranks {}", student.num_params(), ranks.join(" "));
    let seed = config.seed ^ 0x5eed;
    let before = distill::validation_loss(&teacher, &student, &images, &config, a.validation_batches.max(1), seed, &device)?;
    eprintln!("impasto: validation loss before fine-tuning {:.5} (features {:.5}, gram {:.5})", before.0, before.1, before.2);
    let t_self = impasto::clock::now_ms();
    let extra = distill::self_stylizations(&student, &images.images, &config.transfers(), &mut rng, &device)?;
    let self_seconds = (impasto::clock::now_ms() - t_self) / 1000.0;
    if !extra.is_empty() {
        eprintln!("impasto: {} images from {} of the student's own stylizations in {self_seconds:.0}s", extra.len(), config.self_stylized);
    }
    let (student, history) = distill::fine_tune(&teacher, student, &[&images.images, &extra], &config, &mut rng, &device, &mut |l| {
        eprintln!(
            "impasto: step {:>5}  loss {:.5}  features {:.5}  gram {:.5}  lr {:.2e}  {:.0}s",
            l.step, l.loss, l.feature, l.gram, l.learning_rate, l.seconds
        )
    })?;
    let after = distill::validation_loss(&teacher, &student, &images, &config, a.validation_batches.max(1), seed, &device)?;
    eprintln!("impasto: validation loss after fine-tuning {:.5} (features {:.5}, gram {:.5})", after.0, after.1, after.2);
    // The calibration comes after the validation: it changes the activations on purpose.
    let student = distill::rescale(&student, &a.scales, &device)?;
    let scales: Vec<String> = a.scales.iter().map(|(l, s)| format!("{l}={s}")).collect();
    if !scales.is_empty() {
        eprintln!("impasto: activations rescaled after validation: {}", scales.join(" "));
    }
    let seconds = (impasto::clock::now_ms() - t0) / 1000.0;
    let report = serde_json::json!({
        "config": config,
        "backend": backend.name(),
        "init": a.init.as_ref().map(|p| p.display().to_string()),
        "training_images": images.files.len(),
        "ranks": ranks,
        "gmacs_512": gmacs,
        "parameters": student.num_params(),
        "validation_before": before,
        "validation_after": after,
        "last_log": history.last(),
        "self_stylization_seconds": self_seconds,
        "scales": scales,
        "seconds": seconds,
    });
    write_student(&student, &report, &a.output)?;
    Ok(())
}

/// `impasto-lab prune`: a student of plain, narrower convolutions fitted in closed form
/// (lab/src/prune.rs).
#[derive(Parser, Debug)]
pub struct PruneArgs {
    /// Directory of training images (scripts/fetch-training-images fills data/train).
    #[arg(long, default_value = "data/train")]
    images: PathBuf,
    /// Where to write the student's weights (f16).
    #[arg(short, long)]
    output: PathBuf,
    /// Re-fit this factorised student of the teacher's widths instead (e.g. the committed model):
    /// keep its 3×3 reductions, solve each 1×1 convolution back again; its own style transfers
    /// drive the first round. With --rank LAYER=N, that layer is made again at rank N (any layer
    /// after conv1_1). Not with --width.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Output channels kept by a layer between the loss layers, LAYER=N (comma-separated; the
    /// default: conv1_2=16,conv2_2=32,conv3_2=64,conv3_3=64,conv4_3=64).
    #[arg(long = "width", value_delimiter = ',', value_parser = parse_layer_count)]
    widths: Vec<(Layer, usize)>,
    /// A loss layer factorised to rank N (3×3 to N, 1×1 back), LAYER=N (default: conv4_2=64;
    /// with --init: any layer after conv1_1, made again at rank N, and no default).
    #[arg(long = "rank", value_delimiter = ',', value_parser = parse_layer_count)]
    ranks: Vec<(Layer, usize)>,
    /// Batches of crops fitted.
    #[arg(long, default_value_t = PruneConfig::default().batches)]
    batches: usize,
    /// Crops per batch.
    #[arg(long, default_value_t = PruneConfig::default().batch)]
    batch: usize,
    /// Crop side, pixels.
    #[arg(long, default_value_t = PruneConfig::default().crop)]
    crop: usize,
    /// Positions of a batch fitted per layer, at most.
    #[arg(long, default_value_t = PruneConfig::default().rows_per_batch)]
    rows_per_batch: usize,
    /// Ridge, as a share of XᵀX's mean diagonal.
    #[arg(long, default_value_t = PruneConfig::default().ridge)]
    ridge: f64,
    /// Training images are first resized to at most this long side.
    #[arg(long, default_value_t = 384)]
    max_side: u32,
    /// Seed of crops, flips, noise and sampled positions.
    #[arg(long, default_value_t = PruneConfig::default().seed)]
    seed: u64,
    /// Style transfers between training images per round whose snapshots (a third, two thirds,
    /// the end) join the samples: the teacher's runs, then each fitted student's (0: none).
    #[arg(long, default_value_t = PruneConfig::default().self_stylized)]
    self_stylized: usize,
    /// Long side of those style transfers, pixels (raised where the short side would fall below
    /// the crop).
    #[arg(long, default_value_t = PruneConfig::default().self_side)]
    self_side: u32,
    /// Adam iterations of each of those style transfers (at least 3).
    #[arg(long, default_value_t = PruneConfig::default().self_iterations)]
    self_iterations: u32,
    /// Fits: the first on the teacher's style transfers, each further one adding the last
    /// student's (more than one needs --self-stylized).
    #[arg(long, default_value_t = PruneConfig::default().rounds)]
    rounds: usize,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    backend: BackendArg,
}

/// `LAYER=N`, e.g. `conv1_2=16`.
fn parse_layer_count(text: &str) -> std::result::Result<(Layer, usize), String> {
    let (name, n) = text.split_once('=').ok_or_else(|| format!("expected LAYER=N, got {text:?}"))?;
    let n: usize = n.trim().parse().map_err(|_| format!("{:?} is not a count", n.trim()))?;
    Ok((parse_layer(name)?, n))
}

/// Run `impasto-lab prune`.
pub fn prune_cmd(a: PruneArgs) -> Result<()> {
    use impasto_lab::distill::TrainingImages;
    let defaults = PruneConfig::default();
    if a.init.is_some() && !a.widths.is_empty() {
        return Err(impasto::Error::InvalidConfig("--init keeps the student's widths: no --width with it".into()));
    }
    let config = PruneConfig {
        // A re-fit keeps the student's widths: none to report.
        widths: if a.widths.is_empty() && a.init.is_none() { defaults.widths } else { a.widths },
        ranks: if a.ranks.is_empty() && a.init.is_none() { defaults.ranks } else { a.ranks },
        batches: a.batches.max(1),
        batch: a.batch.max(1),
        crop: a.crop.max(32),
        rows_per_batch: a.rows_per_batch.max(1),
        ridge: a.ridge,
        seed: a.seed,
        pooling: Pooling::Avg,
        self_stylized: a.self_stylized,
        self_side: a.self_side,
        self_iterations: a.self_iterations.max(3),
        rounds: a.rounds,
    };
    config.check(a.init.is_some())?;
    check_writable(&a.output)?;
    let t0 = impasto::clock::now_ms();
    let (device, backend) = pick_device(a.backend)?;
    let teacher = models::load(ModelKind::Teacher, &device)?;
    let base = match &a.init {
        Some(path) => Some(impasto::vgg::Vgg::from_bytes(read_file(path)?, &device)?),
        None => None,
    };
    let images = TrainingImages::load(&a.images, a.max_side, config.crop as u32)?;
    eprintln!("impasto-lab: {} training images on {}", images.images.len(), backend.name());
    let (student, fits) = impasto_lab::prune::prune(&teacher, base.as_ref(), &images, &config, &device, &mut |f| {
        eprintln!(
            "impasto-lab: {:<8} width {:>3}{}  {} positions  relative error {:.4}  {:.0}s",
            f.layer,
            f.width,
            f.rank.map(|r| format!(" rank {r}")).unwrap_or_default(),
            f.rows,
            f.relative_error,
            (impasto::clock::now_ms() - t0) / 1000.0
        )
    }, &mut |r, snapshots, _| {
        if config.self_stylized > 0 {
            eprintln!(
                "impasto-lab: round {} of {} fitted, with {} snapshots of style transfers, {:.0}s",
                r + 1,
                config.rounds,
                snapshots.len(),
                (impasto::clock::now_ms() - t0) / 1000.0
            )
        }
    })?;
    let gmacs = student.macs(512, 512) as f64 / 1e9;
    let report = serde_json::json!({
        "method": "channel pruning + least squares given the student's inputs (lab/src/prune.rs)",
        "config": config.to_json(),
        "init": a.init.as_ref().map(|p| p.display().to_string()),
        "backend": backend.name(),
        "training_images": images.files.len(),
        "gmacs_512": gmacs,
        "parameters": student.num_params(),
        "layers": fits,
        "seconds": (impasto::clock::now_ms() - t0) / 1000.0,
    });
    let bytes = write_student(&student, &report, &a.output)?;
    eprintln!("impasto-lab: {gmacs:.2} GMAC at 512x512, {} parameters, {bytes} bytes", student.num_params());
    Ok(())
}

/// Write a student's weights (f16) with its build report in the file's metadata, print the report,
/// and return the file's size.
fn write_student(student: &impasto::Vgg, report: &serde_json::Value, output: &std::path::Path) -> Result<usize> {
    let report_text = report.to_string();
    let bytes = impasto::weights::encode_weights(
        &student.to_layer_weights()?,
        impasto::weights::Storage::F16,
        &[
            ("impasto.model", "distilled"),
            ("impasto.distill", &report_text),
            ("impasto.license", "derived from VGG16 ImageNet weights, Simonyan & Zisserman 2015, CC BY 4.0"),
            ("impasto.input", "BGR 0..255 minus mean (103.939, 116.779, 123.68)"),
        ],
    )?;
    impasto::teacher::write_atomic(output, &bytes)?;
    println!("{report_text}");
    Ok(bytes.len())
}
