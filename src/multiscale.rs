//! Coarse-to-fine runs (after crowsonkb/style-transfer-pytorch's multi-scale): optimise at a
//! small size, upsample the result, continue at larger sizes up to the requested one. One type
//! for the CLI (`--max-size`) and the page ("High resolution"). What a device can hold is
//! [`crate::budget`]'s.

use burn::tensor::Device;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::image_io::{self, Decoded, Image};
use crate::budget::Footprint;
use crate::models::{ModelChoice, ModelKind};
use crate::optim::OptimizerKind;
use crate::stopping::{StageProgress, StopRule, Stopping};
use crate::stylize::{Config, Preset, Stylizer};
use crate::vgg::{TeacherShape, Vgg};

/// The smallest stage of a coarse-to-fine run: below this a stage adds little (the CLI and the
/// page use it; tests pass smaller ones to stay fast).
pub const SMALLEST_STAGE: u32 = 128;

/// The long side of a run when none is asked for (the CLI's `--size`, the page's Size).
pub const DEFAULT_SIZE: u32 = 512;

/// The style image's size relative to the content's working size when none is asked for (CS20:
/// the same size).
pub const DEFAULT_STYLE_SCALE: f32 = 1.0;

/// The last stage of a coarse-to-fine run, where it is painted differently from the others: its
/// model, its optimizer (at that optimizer's default learning rate) and, in a run that stops by
/// itself, its stopping rule and that of the stages before it.
#[derive(Clone, Debug)]
pub struct Finish {
    /// The feature extractor of the last stage, the teacher (`None`: still to come, given with
    /// [`MultiScale::finish_with`] before the last stage begins; the page fetches it while the
    /// smaller sizes paint).
    pub model: Option<Vgg>,
    /// Its optimizer.
    pub optimizer: OptimizerKind,
    /// When it stops, where the run stops by itself.
    pub rule: StopRule,
    /// When each stage before it stops, where the run stops by itself (`None`: the run's rule).
    pub coarse_rule: Option<StopRule>,
}

/// How a coarse-to-fine run with the teacher is painted ([`TEACHER_LADDER`]).
#[derive(Clone, Copy, Debug)]
pub struct LadderRecipe {
    /// The model of the stages before the last.
    pub coarse: ModelKind,
    /// The last stage's optimizer.
    pub optimizer: OptimizerKind,
    /// The last stage's stopping rule.
    pub rule: StopRule,
    /// The stopping rule of the stages before the last (`None`: the run's).
    pub coarse_rule: Option<StopRule>,
}

impl Finish {
    /// Whether its model is still to come.
    pub fn is_pending(&self) -> bool {
        self.model.is_none()
    }

    /// Multiply-accumulates of its model's forward pass at `width`×`height` (the teacher's
    /// architecture while its weights are still to come).
    fn macs(&self, width: usize, height: usize) -> u64 {
        match &self.model {
            Some(m) => m.macs(width, height),
            None => TeacherShape { conv: crate::vgg::ConvAlgorithm::Direct }.macs(width, height),
        }
    }
}

impl LadderRecipe {
    /// The last stage of this recipe, painted with `teacher` (`None`: still to come).
    pub fn finish(&self, teacher: Option<Vgg>) -> Finish {
        Finish { model: teacher, optimizer: self.optimizer, rule: self.rule, coarse_rule: self.coarse_rule }
    }

    /// Whether a run asked of the teacher (`teacher`) with `config`, from the settings of
    /// `preset` (`None`: changed by hand), over the ladder `sides` (smallest first; a resumed
    /// run's whole ladder) of a `width`×`height` photo paints this way: more than one size, and
    /// where the recipe was measured — the default preset and its settings (the seed, the colours
    /// and the device's limits aside; the CS20 preset has the same settings but is CS20's recipe)
    /// and a last size painted whole on this device with L-BFGS's history beside it (ten pairs of
    /// whole images, [`crate::budget::lbfgs_bytes`]: not for tiled print sizes). How the CLI and
    /// the page decide ([`LadderRecipe::models`]).
    pub fn applies(
        &self,
        teacher: &impl Footprint,
        preset: Option<Preset>,
        config: &Config,
        sides: &[u32],
        (width, height): (u32, u32),
    ) -> bool {
        let default = Preset::DEFAULT.config().0;
        let asked = Config {
            seed: default.seed,
            original_colors: default.original_colors,
            max_buffer_bytes: default.max_buffer_bytes,
            max_memory_bytes: default.max_memory_bytes,
            ..config.clone()
        };
        let Some(&last) = sides.last() else { return false };
        let (w, h) = image_io::working_size(width, height, last);
        let memory = config.max_memory_bytes.map(|m| m.saturating_sub(crate::budget::lbfgs_bytes(w, h)));
        let whole = crate::budget::tile_core(teacher, w as usize, h as usize, config.tile, config.max_buffer_bytes, memory).is_none();
        preset == Some(Preset::DEFAULT) && sides.len() > 1 && asked == default && whole
    }

    /// The model that paints a run asked of `asked` ([`ModelChoice`]) and its finishing stage:
    /// where [`LadderRecipe::applies`] holds for the teacher, [`LadderRecipe::coarse`] for the
    /// smaller sizes and the teacher for the last; otherwise the model asked for alone (the
    /// distilled one for [`ModelChoice::Auto`]). `load` gives a model by kind (from a file, or
    /// what the page's engine holds), or says why not; where [`ModelChoice::Auto`]'s teacher is
    /// not there ([`Error::ModelUnavailable`]: no file; not yet in the page's engine), its finish
    /// is still to come ([`Finish::is_pending`]) — a caller that cannot fetch it paints without.
    pub fn models(
        &self,
        asked: ModelChoice,
        preset: Option<Preset>,
        config: &Config,
        sides: &[u32],
        photo: (u32, u32),
        load: &mut dyn FnMut(ModelKind) -> Result<Vgg>,
    ) -> Result<(Vgg, Option<Finish>)> {
        match asked {
            ModelChoice::Distilled => Ok((load(ModelKind::Distilled)?, None)),
            ModelChoice::Teacher => {
                let teacher = load(ModelKind::Teacher)?;
                if self.applies(&teacher, preset, config, sides, photo) {
                    Ok((load(self.coarse)?, Some(self.finish(Some(teacher)))))
                } else {
                    Ok((teacher, None))
                }
            }
            ModelChoice::Auto => {
                let coarse = load(self.coarse)?;
                // Decided on the teacher's shape: its weights may be on their way.
                if self.applies(&TeacherShape { conv: coarse.conv }, preset, config, sides, photo) {
                    let teacher = match load(ModelKind::Teacher) {
                        Ok(teacher) => Some(teacher),
                        Err(Error::ModelUnavailable(_)) => None,
                        Err(e) => return Err(e),
                    };
                    Ok((coarse, Some(self.finish(teacher))))
                } else {
                    Ok((coarse, None))
                }
            }
        }
    }
}

/// A coarse-to-fine run with the teacher: the stages before the last with the distilled model
/// (at most 100 iterations each, by the default rule), the last with the teacher by L-BFGS, run
/// close to convergence. Departure from a plain ladder (one model, one optimizer): the teacher
/// paints only the size that costs most, and L-BFGS converges in far fewer iterations than Adam;
/// with the default preset's α its minimum is CS20's look (BENCHMARKS.md "Choosing the ladder",
/// "The photo survives").
pub const TEACHER_LADDER: LadderRecipe = LadderRecipe {
    coarse: ModelKind::Distilled,
    optimizer: OptimizerKind::Lbfgs,
    // Until the loss falls less than 1 % a step over 10: with the default preset's α the
    // minimum is CS20's look, and by then the painting is at CS20's quality; 3 % left some
    // paintings unfinished.
    rule: StopRule { window: 10, tolerance: 1e-2, min_iterations: 20, max_iterations: 600 },
    coarse_rule: Some(StopRule { window: 20, tolerance: 4e-3, min_iterations: 40, max_iterations: 100 }),
};

/// The long sides of a coarse-to-fine run ending at `final_long`: a quarter, a half and the full
/// size, keeping only stages of at least `smallest` px, so the large-scale structure is painted
/// where it is cheap and the larger sizes add detail.
pub fn scale_ladder(final_long: u32, smallest: u32) -> Vec<u32> {
    let mut sides: Vec<u32> = [final_long / 4, final_long / 2].into_iter().filter(|&s| s >= smallest).collect();
    sides.push(final_long);
    sides
}

/// Where a run interrupted at long side `side`, `done` iterations in, goes on: the stages of
/// `ladder` (the run's own, smallest first) from that side on, and how many iterations of the
/// first of them it had done (with a fixed count per stage; a stage that stops by itself starts
/// its measure of convergence afresh). A side the ladder does not have (the device's budget
/// changed since) is finished on its own, as a last stage.
pub fn resumed_stages(ladder: &[u32], stopping: Stopping, side: u32, done: u32) -> (Vec<u32>, u32) {
    match (ladder.iter().position(|&s| s == side), stopping) {
        (Some(i), Stopping::Fixed(n)) => (ladder[i..].to_vec(), done.saturating_sub(n.saturating_mul(i as u32))),
        (Some(i), Stopping::Auto(_)) => (ladder[i..].to_vec(), 0),
        (None, _) => (vec![side], 0),
    }
}

/// The sizes a person asked for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SizeRequest {
    /// The long side of the result (ignored with `largest`).
    pub size: u32,
    /// Coarse to fine: a quarter, a half, then the size.
    pub coarse_to_fine: bool,
    /// Coarse to fine up to the largest size the device holds.
    pub largest: bool,
    /// The smallest stage ([`SMALLEST_STAGE`]; tests use smaller ones).
    pub smallest_stage: u32,
}

/// What a run will paint (one plan for the CLI and the page): the long side of each
/// stage, why the size differs from the one asked for, and for a resumed run how far into its
/// first stage it was.
#[derive(Clone, Debug, PartialEq)]
pub struct RunPlan {
    /// Long sides, smallest first.
    pub sides: Vec<u32>,
    /// Why the size differs from the one asked for, if it does.
    pub notice: Option<String>,
    /// Iterations of the first stage a resumed run had done.
    pub stage_done: u32,
}

/// What a device holds, for [`RunPlan::new`]: its budget, the model that will run, and how to
/// name the device in a notice ("this GPU", "the CPU engine").
#[derive(Clone, Copy)]
pub struct Holder<'a> {
    /// The device's budget.
    pub budget: &'a crate::budget::DeviceBudget,
    /// The model that will run.
    pub model: &'a Vgg,
    /// The device, in words.
    pub name: &'a str,
}

impl RunPlan {
    /// The plan for a photo of `width`×`height`: the size asked for, reduced to the largest that
    /// `holder` holds (if given, with a notice), at most `cap`; the ladder when coarse to fine;
    /// and, for a run resumed from an image of long side `side` after `done` iterations, the rest
    /// of that ladder from that side ([`resumed_stages`]).
    pub fn new(
        request: SizeRequest,
        (width, height): (u32, u32),
        cap: u32,
        holder: Option<Holder>,
        stopping: Stopping,
        resume: Option<(u32, u32)>,
    ) -> Result<RunPlan> {
        let largest = match &holder {
            Some(h) => h.budget.largest_side(h.model, width, height, cap).ok_or_else(|| {
                Error::InvalidConfig("this device has too little memory for even the smallest working size".into())
            })?,
            None => cap,
        };
        let (side, notice) = if request.largest {
            (largest, Some(format!("{largest} px is the largest size this device holds for this photo")))
        } else if request.size > largest {
            let who = holder.as_ref().map_or("this device", |h| h.name);
            (largest, Some(format!("reduced from {} to {largest} px, the largest {who} holds for this photo", request.size)))
        } else {
            (request.size, None)
        };
        let ladder = if request.coarse_to_fine || request.largest {
            scale_ladder(side, request.smallest_stage.max(image_io::MIN_SIDE))
        } else {
            vec![side]
        };
        Ok(match resume {
            None => RunPlan { sides: ladder, notice, stage_done: 0 },
            Some((side, done)) => {
                let (sides, stage_done) = resumed_stages(&ladder, stopping, side, done);
                RunPlan { sides, notice: None, stage_done }
            }
        })
    }
}

/// One iteration of a coarse-to-fine run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleRecord {
    /// Iterations done over all stages, 1 for the first.
    pub iteration: u32,
    /// Iterations done at this stage, 1 for the first.
    pub stage_iteration: u32,
    /// The stage, 1 for the first (smallest).
    pub stage: u32,
    /// Number of stages.
    pub stages: u32,
    /// This stage's working width.
    pub width: u32,
    /// This stage's working height.
    pub height: u32,
    /// Content loss (unweighted), at this stage's size.
    pub content: f32,
    /// Style loss (unweighted).
    pub style: f32,
    /// Total variation (unweighted).
    pub tv: f32,
    /// Weighted total.
    pub total: f32,
    /// Milliseconds spent stepping since the run began, all stages.
    pub elapsed_ms: f64,
    /// The run is complete: its last stage is done ([`Stopping`]). Stepping further is allowed
    /// (it goes on at the last stage) but no caller needs to.
    pub finished: bool,
    /// The share of the run done, 0..1, never decreasing: each stage weighs as its model's
    /// multiply-accumulates at its size (its cost per iteration), and within a stage
    /// [`StageProgress::progress`].
    pub progress: f32,
}

/// A run over the sizes of a ladder, each stage as long as its [`Stopping`] says.
///
/// Departure from a single-size run: at each new stage the image is the previous stage's result
/// upsampled (Catmull-Rom), the targets are recomputed from the inputs at the new size, and the
/// optimizer starts afresh, because Adam's moments are per pixel and do not survive a resize
/// (crowsonkb's implementation restarts it too).
pub struct MultiScale {
    config: Config,
    content: Decoded,
    styles: Vec<(Decoded, f32)>,
    style_scale: f32,
    sides: Vec<u32>,
    stopping: Stopping,
    /// The current stage's progress under `stopping`.
    progress: StageProgress,
    /// Each stage's share of the whole run's work (its model's multiply-accumulates at its size
    /// over all stages').
    weights: Vec<f32>,
    model: Vgg,
    /// The last stage's model, optimizer and stopping rule, where they differ.
    finish: Option<Finish>,
    device: Device,
    stage: usize,
    current: Stylizer,
    iterations_before: u32,
    elapsed_before: f64,
    /// Iterations of the first stage done before a resumed run began.
    resumed_done: u32,
}

impl MultiScale {
    /// A run at the long sides `sides` (smallest first; one side for a plain run), each stage as
    /// long as `stopping` says (the last one may be stepped further), starting from the configured
    /// start image or, for a resumed run, from `start`: the image an interrupted run had reached
    /// at the first stage's size, and how many of that stage's iterations it had done (the
    /// first stage then has only the rest to do). Every stage's sizes are checked here, before any
    /// work. `finish`, where given, paints the last stage and, in a run that stops by itself,
    /// sets when each stage stops (its `rule`, its `coarse_rule`; see [`Finish`]).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Config,
        content: Decoded,
        styles: Vec<(Decoded, f32)>,
        style_scale: f32,
        sides: Vec<u32>,
        stopping: Stopping,
        model: Vgg,
        finish: Option<Finish>,
        device: Device,
        start: Option<(&Image, u32)>,
    ) -> Result<Self> {
        if stopping == Stopping::Fixed(0) {
            return Err(Error::InvalidConfig("a run needs at least 1 iteration per size".into()));
        }
        if sides.is_empty() || sides.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::InvalidConfig(format!("the sizes of a coarse-to-fine run must increase, not {sides:?}")));
        }
        let first = stage_images(&content, &styles, style_scale, sides[0])?;
        for &side in &sides[1..] {
            stage_images(&content, &styles, style_scale, side)?;
        }
        let (stage_config, stage_model) = stage_settings(&config, &model, finish.as_ref(), sides.len() == 1)?;
        let current = stage_stylizer(&stage_config, &first, &styles, stage_model, &device, start.map(|(image, _)| image))?;
        let resumed_done = start.map_or(0, |(_, done)| done);
        let first_stopping = stage_stopping(stopping, finish.as_ref(), sides.len() == 1);
        Ok(MultiScale {
            weights: stage_weights(&sides, (content.width(), content.height()), &model, finish.as_ref()),
            config,
            content,
            styles,
            style_scale,
            sides,
            stopping,
            progress: StageProgress::new(first_stopping, resumed_done),
            model,
            finish,
            device,
            stage: 0,
            current,
            iterations_before: 0,
            elapsed_before: 0.0,
            resumed_done,
        })
    }

    /// Add a film frame's temporal term ([`crate::film::Temporal`]) to a run of one size.
    pub fn set_temporal(&mut self, temporal: crate::film::Temporal) -> Result<()> {
        if self.sides.len() != 1 {
            return Err(Error::InvalidConfig("a temporal term needs a run of one size".into()));
        }
        self.current.set_temporal(Some(temporal))
    }

    /// One iteration, moving to the next size first when this stage's iterations are done.
    pub async fn step(&mut self) -> Result<ScaleRecord> {
        self.next_stage_if_done().await?;
        let r = self.current.step(1).await?.remove(0);
        Ok(self.record(r))
    }

    /// One iteration and the image it leads to, in one readback where the optimizer allows
    /// ([`Stylizer::step_frame`]): what a display of every iteration wants.
    pub async fn step_frame(&mut self) -> Result<(ScaleRecord, Image)> {
        self.next_stage_if_done().await?;
        let (r, image) = self.current.step_frame().await?;
        Ok((self.record(r), image))
    }

    async fn next_stage_if_done(&mut self) -> Result<()> {
        if self.stage + 1 < self.sides.len() && self.progress.done() {
            let (w, h) = self.current.size();
            let start = self.current.raw_image().await?;
            let next = self.sides[self.stage + 1];
            let images = stage_images(&self.content, &self.styles, self.style_scale, next)?;
            let (content, _) = &images;
            let start = start.resized(content.width, content.height);
            let last = self.stage + 2 == self.sides.len();
            let (config, model) = stage_settings(&self.config, &self.model, self.finish.as_ref(), last)?;
            let stylizer =
                stage_stylizer(&config, &images, &self.styles, model, &self.device, Some(&start)).map_err(|e| match e {
                    Error::Device(m) => Error::Device(format!("at {}x{} after {w}x{h}: {m}", content.width, content.height)),
                    e => e,
                })?;
            self.iterations_before += self.current.iteration();
            self.elapsed_before += self.current.elapsed_ms();
            self.current = stylizer;
            self.stage += 1;
            self.progress = StageProgress::new(stage_stopping(self.stopping, self.finish.as_ref(), last), 0);
        }
        Ok(())
    }

    fn record(&mut self, r: crate::stylize::StepRecord) -> ScaleRecord {
        // The loss of the image this iteration started from: what the stopping rule watches.
        self.progress.push(r.total);
        let (width, height) = self.current.size();
        let finished = self.stage + 1 == self.sides.len() && self.progress.done();
        let progress = self.weights[..self.stage].iter().sum::<f32>() + self.weights[self.stage] * self.progress.progress();
        ScaleRecord {
            iteration: self.iterations_before + r.iteration,
            stage_iteration: r.iteration,
            stage: self.stage as u32 + 1,
            stages: self.sides.len() as u32,
            width,
            height,
            content: r.content,
            style: r.style,
            tv: r.tv,
            total: r.total,
            elapsed_ms: self.elapsed_before + r.elapsed_ms,
            finished,
            progress: if finished { 1.0 } else { progress.min(0.999) },
        }
    }

    /// The finishing stage's model is still to come ([`Finish::is_pending`]): give it with
    /// [`MultiScale::finish_with`], or paint without it ([`MultiScale::finish_without`]).
    pub fn finish_pending(&self) -> bool {
        self.finish.as_ref().is_some_and(Finish::is_pending)
    }

    /// Whether the next step would begin the last stage while its model is still to come: a
    /// step now fails; the caller waits for the model or paints without it.
    pub fn awaits_finish(&self) -> bool {
        self.finish_pending() && self.stage + 2 == self.sides.len() && self.progress.done()
    }

    /// Give the finishing stage its model (the teacher), before that stage begins.
    pub fn finish_with(&mut self, model: Vgg) -> Result<()> {
        match &mut self.finish {
            Some(f) if f.model.is_none() => {
                f.model = Some(model);
                Ok(())
            }
            _ => Err(Error::InvalidConfig("this run has no finishing stage waiting for its model".into())),
        }
    }

    /// Paint the last stage as the others, with the run's model, optimizer and stopping rule,
    /// where the finishing model will not come (the page offline, the download failed). The
    /// progress is weighed again by the new costs: it only moves forward (the earlier stages'
    /// share of a cheaper run is larger).
    pub fn finish_without(&mut self) {
        if self.finish_pending() {
            self.finish = None;
            self.weights = stage_weights(&self.sides, (self.content.width(), self.content.height()), &self.model, None);
        }
    }

    /// The model painting each stage, by name, `painter` being the kind of the run's model (the
    /// finish is the teacher's, also while its weights are still to come).
    pub fn stage_models(&self, painter: ModelKind) -> Vec<&'static str> {
        let n = self.sides.len();
        (0..n).map(|k| if self.finish.is_some() && k + 1 == n { ModelKind::Teacher } else { painter }.name()).collect()
    }

    /// Whether the current stage is over (the next step begins the next stage, if any).
    pub fn stage_done(&self) -> bool {
        self.progress.done()
    }

    /// Iterations done over all stages.
    pub fn iteration(&self) -> u32 {
        self.iterations_before + self.current.iteration()
    }

    /// Iterations of the whole ladder with a fixed count per stage (the count times the number
    /// of stages, less those a resumed run had done before); `None` for a run that stops by itself.
    pub fn total_iterations(&self) -> Option<u32> {
        let n = self.stopping.fixed()?;
        Some(n.saturating_mul(self.sides.len() as u32).saturating_sub(self.resumed_done))
    }

    /// The current stage's working size.
    pub fn size(&self) -> (u32, u32) {
        self.current.size()
    }

    /// The long sides of the stages.
    pub fn sides(&self) -> &[u32] {
        &self.sides
    }

    /// The current image (recoloured if the run keeps the photo's colours).
    pub async fn image(&self) -> Result<Image> {
        self.current.image().await
    }
}

/// The content and style images of one stage.
fn stage_images(content: &Decoded, styles: &[(Decoded, f32)], style_scale: f32, side: u32) -> Result<(Image, Vec<Image>)> {
    let c = content.to_working(side, "the content image at this size")?;
    let s = styles
        .iter()
        .map(|(d, _)| image_io::working_style(d, &c, style_scale))
        .collect::<Result<Vec<_>>>()?;
    Ok((c, s))
}

/// The settings and model of a stage: the run's, or for the `last` stage `finish`'s model and
/// optimizer where given (an error while that model is still to come).
fn stage_settings<'a>(config: &Config, model: &'a Vgg, finish: Option<&'a Finish>, last: bool) -> Result<(Config, &'a Vgg)> {
    match finish {
        Some(Finish { model: Some(m), optimizer, .. }) if last => Ok((config.with_optimizer(*optimizer), m)),
        Some(Finish { model: None, .. }) if last => {
            Err(Error::ModelUnavailable("the last size's model (VGG16) has not arrived yet".into()))
        }
        _ => Ok((config.clone(), model)),
    }
}

/// Each stage's share of a run's work: its model's multiply-accumulates at its size (its cost
/// per iteration; the teacher's last stage of a ladder ~6× the distilled model's per pixel) over
/// all stages'.
fn stage_weights(sides: &[u32], (width, height): (u32, u32), model: &Vgg, finish: Option<&Finish>) -> Vec<f32> {
    let costs: Vec<f32> = sides
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let (w, h) = image_io::working_size(width, height, s);
            let (w, h) = (w as usize, h as usize);
            match finish {
                Some(f) if k + 1 == sides.len() => f.macs(w, h) as f32,
                _ => model.macs(w, h) as f32,
            }
        })
        .collect();
    let all: f32 = costs.iter().sum();
    costs.iter().map(|c| c / all).collect()
}

/// How long a stage goes on: the run's [`Stopping`], or in a run that stops by itself `finish`'s
/// rules where given (its `rule` for the `last` stage, its `coarse_rule` for the others).
fn stage_stopping(stopping: Stopping, finish: Option<&Finish>, last: bool) -> Stopping {
    match (stopping, finish) {
        (Stopping::Auto(_), Some(f)) if last => Stopping::Auto(f.rule),
        (Stopping::Auto(_), Some(Finish { coarse_rule: Some(rule), .. })) => Stopping::Auto(*rule),
        _ => stopping,
    }
}

/// The stylizer of one stage, from its images (see [`stage_images`]) and the styles' weights.
fn stage_stylizer(
    config: &Config,
    (content, styles): &(Image, Vec<Image>),
    weights: &[(Decoded, f32)],
    model: &Vgg,
    device: &Device,
    start: Option<&Image>,
) -> Result<Stylizer> {
    let blend: Vec<(&Image, f32)> = styles.iter().zip(weights.iter().map(|(_, w)| *w)).collect();
    Stylizer::with_start(config.clone(), content, &blend, model.clone(), device.clone(), start)
}
