//! Coarse-to-fine runs (after crowsonkb/style-transfer-pytorch's multi-scale): optimise at a
//! small size, upsample the result, continue at larger sizes up to the requested one. One type
//! for the CLI (`--max-size`) and the page ("High resolution"). What a device can hold is
//! [`crate::budget`]'s.

use burn::tensor::Device;
use serde::Serialize;

use crate::error::{Error, Input, Result};
use crate::image_io::{self, Decoded, Image};
use crate::models::ModelKind;
use crate::pace::{self, Pace, Progressed, Speed, StageCost};
use crate::stopping::{StageProgress, Stopping};
use crate::stylize::{Config, Stylizer};
use crate::vgg::Vgg;

pub use crate::ladder::{Finish, LadderRecipe, TEACHER_LADDER};

/// The smallest stage of a coarse-to-fine run: below this a stage adds little (the CLI and the
/// page use it; tests pass smaller ones to stay fast).
pub const SMALLEST_STAGE: u32 = 128;

/// The long side of a run when none is asked for (the CLI's `--size`, the page's Size).
pub const DEFAULT_SIZE: u32 = 512;

/// The style image's size relative to the content's working size when none is asked for (CS20:
/// the same size).
pub const DEFAULT_STYLE_SCALE: f32 = 1.0;

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

impl RunPlan {
    /// The stages of `whole` above a finished painting of long side `side`: going on from a run
    /// its time limit painted smaller to the size asked for ([`crate::pace`]).
    pub fn onward(whole: &RunPlan, side: u32) -> Result<RunPlan> {
        let sides: Vec<u32> = whole.sides.iter().copied().filter(|&s| s > side).collect();
        if sides.is_empty() {
            return Err(Error::InvalidConfig(format!(
                "the painting is already {side} px, as large as the {} px asked for",
                whole.sides.last().copied().unwrap_or(side)
            )));
        }
        Ok(RunPlan { sides, notice: None, stage_done: 0 })
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
    /// Each term of the loss (unweighted), by name, at this stage's size.
    pub terms: crate::loss::Terms,
    /// Weighted total.
    pub total: f32,
    /// Milliseconds spent stepping since the run began, all stages.
    pub elapsed_ms: f64,
    /// The run is complete: its last stage is done ([`Stopping`]). Stepping further is allowed
    /// (it goes on at the last stage) but no caller needs to.
    pub finished: bool,
    /// The share of the run done, 0..1, never decreasing: each stage weighs as its expected time
    /// ([`crate::pace::stage_shares`]), and within a stage [`StageProgress::progress`].
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
    /// Each stage's share of the whole run's expected time ([`pace::stage_shares`]).
    weights: Vec<f32>,
    /// A time budget, until the plan it asks for is made (after the first stage).
    pace: Option<Pace>,
    /// What that plan chose and why, where it changed the size or will not end in time.
    planned: Option<String>,
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
    /// sets when each stage stops (its `rule`, its `coarse_rule`; see [`Finish`]); a fresh run of
    /// one size with a finish paints that size twice, first with `model`, then with the finish.
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
        stopping.check()?;
        if sides.is_empty() || sides.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::InvalidConfig(format!("the sizes of a coarse-to-fine run must increase, not {sides:?}")));
        }
        // The finish starts from a coarse painting: the smaller sizes', or in a fresh run of one
        // size, the run's model's at that size (L-BFGS from the noisy start loses the subject;
        // from a painting it lands on CS20's look: BENCHMARKS.md "The one-size path at 128 px").
        let sides = if finish.is_some() && sides.len() == 1 && start.is_none() { vec![sides[0]; 2] } else { sides };
        let first = stage_images(&content, &styles, style_scale, sides[0])?;
        for &side in &sides[1..] {
            stage_images(&content, &styles, style_scale, side)?;
        }
        let (stage_config, stage_model) = stage_settings(&config, &model, finish.as_ref(), sides.len() == 1)?;
        let current = stage_stylizer(&stage_config, &first, &styles, stage_model, &device, start.map(|(image, _)| image))?;
        let resumed_done = start.map_or(0, |(_, done)| done);
        let first_stopping = stage_stopping(stopping, finish.as_ref(), sides.len() == 1);
        let first_expected = pace::expected_iterations(first_stopping, sides.len() == 1 && finish.is_some());
        Ok(MultiScale {
            weights: pace::stage_shares(&stage_costs(&sides, stopping, finish.as_ref()), (content.width(), content.height())),
            config,
            content,
            styles,
            style_scale,
            sides,
            stopping,
            progress: StageProgress::new(first_stopping, resumed_done).expecting(first_expected),
            model,
            finish,
            device,
            stage: 0,
            current,
            iterations_before: 0,
            elapsed_before: 0.0,
            resumed_done,
            pace: None,
            planned: None,
        })
    }

    /// Plan the rest of the run to `pace`'s time budget once its first stage is painted, at the
    /// speed that stage showed ([`crate::pace::plan_rest`]): a coarse-to-fine run only.
    pub fn set_pace(&mut self, pace: Pace) {
        // (A run of one size, painted twice there, has no size left to plan.)
        if self.sides.first() < self.sides.last() && self.stage == 0 {
            self.pace = Some(pace);
        }
    }

    /// What the time budget's plan chose and why, once made, where it changed the size or the
    /// run will not end in time ([`crate::pace::Planned::line`]).
    pub fn plan_line(&self) -> Option<&str> {
        self.planned.as_deref()
    }

    /// The rest of the run planned to `pace` after the first stage, at the speed it showed.
    fn plan(&mut self, pace: Pace) {
        let photo = (self.content.width(), self.content.height());
        let Some(speed) = Speed::measured(self.current.elapsed_ms(), self.current.iteration(), self.current.size()) else {
            return;
        };
        let run = Progressed {
            photo,
            done_side: self.sides[0],
            rest: &self.sides[1..],
            finish_factor: finish_factor(self.finish.as_ref()),
            stopping: stage_stoppings(self.stopping, self.finish.as_ref()),
            finish: self.finish.is_some(),
            spent_s: (self.elapsed_before + self.current.elapsed_ms()) / 1000.0,
        };
        let name = if self.finish.is_some() { "VGG16" } else { "The run" };
        let planned = pace::plan_rest(&pace, speed, &run, name);
        if !planned.sides.is_empty() {
            self.sides.truncate(1);
            self.sides.extend(planned.sides);
            self.weights = pace::stage_shares(&stage_costs(&self.sides, self.stopping, self.finish.as_ref()), photo);
        }
        self.planned = planned.line;
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
        Ok(self.record(r).0)
    }

    /// One iteration and the image it leads to, in one readback where the optimizer allows
    /// ([`Stylizer::step_frame`]; an L-BFGS stage's last step reads its settled image again): what
    /// a display of every iteration wants.
    pub async fn step_frame(&mut self) -> Result<(ScaleRecord, Image)> {
        self.next_stage_if_done().await?;
        let (r, image) = self.current.step_frame().await?;
        let (record, settled) = self.record(r);
        let image = if settled { self.current.image().await? } else { image };
        Ok((record, image))
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
            let stopping = stage_stopping(self.stopping, self.finish.as_ref(), last);
            let expected = pace::expected_iterations(stopping, last && self.finish.is_some());
            self.progress = StageProgress::new(stopping, 0).expecting(expected);
        }
        Ok(())
    }

    /// The record of step `r`, and whether the stage ended on another image than the step led
    /// to ([`Stylizer::settle`]).
    fn record(&mut self, r: crate::stylize::StepRecord) -> (ScaleRecord, bool) {
        // The loss of the image this iteration started from: what the stopping rule watches.
        let was_done = self.progress.done();
        self.progress.push(r.total);
        // The stage ends on an image whose loss was measured (once: a last stage stepped further
        // goes on from there).
        let settled = !was_done && self.progress.done() && self.current.settle();
        // Planned as soon as the first stage is over, so that a caller sees the plan (and a
        // finishing model it waits for) before the next stage begins.
        if self.stage == 0
            && self.progress.done()
            && let Some(pace) = self.pace.take()
        {
            self.plan(pace);
        }
        let (width, height) = self.current.size();
        let finished = self.stage + 1 == self.sides.len() && self.progress.done();
        let progress = self.weights[..self.stage].iter().sum::<f32>() + self.weights[self.stage] * self.progress.progress();
        (
            ScaleRecord {
                iteration: self.iterations_before + r.iteration,
                stage_iteration: r.iteration,
                stage: self.stage as u32 + 1,
                stages: self.sides.len() as u32,
                width,
                height,
                terms: r.terms,
                total: r.total,
                elapsed_ms: self.elapsed_before + r.elapsed_ms,
                finished,
                progress: if finished { 1.0 } else { progress.min(0.999) },
            },
            settled,
        )
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
            self.weights = pace::stage_shares(&stage_costs(&self.sides, self.stopping, None), (self.content.width(), self.content.height()));
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
    let c = content.to_working(side, "the content image at this size").map_err(|e| e.about(Input::Content))?;
    let s = styles
        .iter()
        .enumerate()
        .map(|(k, (d, _))| image_io::working_style(d, &c, style_scale, Input::Style(k)))
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

/// Each stage as [`crate::pace`] costs it: its side, its model's cost against the run's (the
/// teacher's finish of a distilled ladder: [`pace::TEACHER_COST`]) and its expected iterations.
fn stage_costs(sides: &[u32], stopping: Stopping, finish: Option<&Finish>) -> Vec<StageCost> {
    pace::stage_costs(sides, finish_factor(finish), stage_stoppings(stopping, finish), finish.is_some())
}

/// The last stage's cost per pixel against the others': the teacher's finish of a distilled
/// ladder, [`pace::TEACHER_COST`]; 1 without a finish.
fn finish_factor(finish: Option<&Finish>) -> f64 {
    if finish.is_some() { pace::TEACHER_COST } else { 1.0 }
}

/// How the stages before the last stop, and how the last does ([`stage_stopping`]).
fn stage_stoppings(stopping: Stopping, finish: Option<&Finish>) -> (Stopping, Stopping) {
    (stage_stopping(stopping, finish, false), stage_stopping(stopping, finish, true))
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
