//! A run planned to the device's measured speed. After the first stage of a coarse-to-fine run
//! the core knows what an iteration costs on this device; with a time budget it chooses the
//! final size so that the whole run ends within it, and says so in one line. Not part of
//! Gatys/CS20: a page on a CPU engine would otherwise take most of an hour for one painting.
//!
//! The cost model: an iteration's time grows with the working size's pixels (BENCHMARKS.md
//! "The CPU engine beside PyTorch": 8.6× for 9× the pixels), the teacher's costs
//! [`TEACHER_COST`] times the distilled model's, and each stage runs its rule's expected count
//! ([`expected_iterations`]).

use crate::error::{Error, Result};
use crate::image_io;
use crate::multiscale::scale_ladder;
use crate::stopping::Stopping;

/// The page's time budget when none is chosen, in seconds: a visitor who pressed one button
/// waits a few minutes, not most of an hour.
pub const PAGE_TIME_BUDGET_S: f32 = 300.0;

/// The shortest and longest time budget a person may set, in seconds.
pub const TIME_BUDGET_BOUNDS_S: (f32, f32) = (10.0, 86_400.0);

/// The smallest final long side a plan shrinks a run to: the default ladder was measured at
/// CS20's quality from 256 px up (BENCHMARKS.md "Choosing the ladder"). A run asked smaller is
/// not shrunk.
pub const MIN_PLANNED_SIDE: u32 = 256;

/// A planned size is a multiple of this many pixels.
const SIDE_STEP: u32 = 32;

/// An iteration of the VGG16 teacher against one of the distilled model at the same size:
/// measured 2.4–2.5× natively on the CPU and 2.6× in Chromium's CPU engine (both on the CPU
/// engine's own pass), 1.6× on a GPU (BENCHMARKS.md); near the higher side, so a plan errs
/// towards ending early.
pub const TEACHER_COST: f64 = 2.5;

/// Iterations the teacher's L-BFGS finish typically runs: 40–70 at 256–512 px (BENCHMARKS.md
/// "512 px: the painting the run ends with").
pub const FINISH_ITERATIONS: u32 = 60;

/// Iterations an Adam stage under the default rule typically runs: 239–251 (BENCHMARKS.md
/// "Stopping by itself").
pub const AUTO_ITERATIONS: u32 = 250;

/// A time budget for a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pace {
    /// Seconds of painting the whole run should take (time spent waiting for a model aside).
    pub budget_s: f32,
    /// The size was chosen by the person: it is kept, and only estimated.
    pub size_fixed: bool,
    /// The smallest final long side the plan may choose ([`MIN_PLANNED_SIDE`]; tests use less).
    pub min_side: u32,
}

impl Pace {
    /// A budget of `budget_s` seconds, checked against [`TIME_BUDGET_BOUNDS_S`].
    pub fn new(budget_s: f32, size_fixed: bool) -> Result<Pace> {
        let (lo, hi) = TIME_BUDGET_BOUNDS_S;
        if !(lo..=hi).contains(&budget_s) {
            return Err(Error::InvalidConfig(format!(
                "the time budget must be between {lo} s and {} h, not {budget_s} s",
                hi / 3600.0
            )));
        }
        Ok(Pace { budget_s, size_fixed, min_side: MIN_PLANNED_SIDE })
    }
}

/// How many iterations a stage is expected to run under `stopping`: its count where fixed; for
/// the teacher's L-BFGS finish ([`FINISH_ITERATIONS`]); otherwise the default rule's typical
/// count, at most the rule's own cap (the coarse stages' 100).
pub fn expected_iterations(stopping: Stopping, finish: bool) -> u32 {
    match stopping {
        Stopping::Fixed(n) => n,
        Stopping::Auto(rule) if finish => FINISH_ITERATIONS.min(rule.max_iterations),
        Stopping::Auto(rule) => AUTO_ITERATIONS.min(rule.max_iterations),
    }
}

/// One stage as the plan costs it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StageCost {
    /// Its long side.
    pub side: u32,
    /// The cost of its model's iteration per pixel, relative to the run's model (1, or
    /// [`TEACHER_COST`] for the teacher's finish of a distilled ladder).
    pub factor: f64,
    /// Its expected iterations ([`expected_iterations`]).
    pub iterations: u32,
}

impl StageCost {
    /// Its expected cost in pixel-iterations of the run's model, for a photo of `photo`.
    fn work(&self, photo: (u32, u32)) -> f64 {
        let (w, h) = image_io::working_size(photo.0, photo.1, self.side);
        (w as f64) * (h as f64) * self.factor * self.iterations as f64
    }
}

/// Each stage's share of a run's expected time, 0..1, summing to 1: how the progress of a run
/// is weighed.
pub fn stage_shares(stages: &[StageCost], photo: (u32, u32)) -> Vec<f32> {
    let work: Vec<f64> = stages.iter().map(|s| s.work(photo)).collect();
    let all: f64 = work.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    work.iter().map(|w| (w / all) as f32).collect()
}

/// What this device has shown: milliseconds of the run's model per iteration per pixel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Speed {
    /// Milliseconds per iteration per working pixel.
    pub ms_per_pixel: f64,
}

impl Speed {
    /// From a stage of `iterations` that took `ms` at `width`×`height`.
    pub fn measured(ms: f64, iterations: u32, (width, height): (u32, u32)) -> Option<Speed> {
        let pixels = width as f64 * height as f64 * iterations as f64;
        (ms > 0.0 && pixels > 0.0).then(|| Speed { ms_per_pixel: ms / pixels })
    }

    /// Seconds `stages` are expected to take on a photo of `photo`.
    pub fn seconds(&self, stages: &[StageCost], photo: (u32, u32)) -> f64 {
        stages.iter().map(|s| s.work(photo)).sum::<f64>() * self.ms_per_pixel / 1000.0
    }
}

/// The rest of a run, as planned ([`plan_rest`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    /// The long sides of the stages still to paint, smallest first.
    pub sides: Vec<u32>,
    /// Seconds they are expected to take.
    pub seconds: f64,
    /// What was chosen and why, in a sentence, where the plan changed the size or the run will
    /// not end within its budget; `None` where the run as asked fits.
    pub line: Option<String>,
}

/// What a plan knows of the run it plans the rest of.
#[derive(Clone, Copy, Debug)]
pub struct Progressed<'a> {
    /// The photo's size.
    pub photo: (u32, u32),
    /// The long side of the stage just painted.
    pub done_side: u32,
    /// The stages still to paint as asked, smallest first (the last is the run's size).
    pub rest: &'a [u32],
    /// The per-pixel cost of the last stage's model relative to the others' ([`StageCost::factor`]).
    pub finish_factor: f64,
    /// How the stages before the last stop, and how the last does.
    pub stopping: (Stopping, Stopping),
    /// Whether the last stage is the teacher's L-BFGS finish ([`expected_iterations`]).
    pub finish: bool,
    /// Seconds of painting spent so far.
    pub spent_s: f64,
}

/// The stages of `sides` (smallest first) as the plan costs them: the last at `finish_factor`
/// times the others' cost per pixel, each its expected iterations under `stopping` (the stages
/// before the last, the last), the last as the teacher's L-BFGS finish where `finish` says so.
pub fn stage_costs(sides: &[u32], finish_factor: f64, stopping: (Stopping, Stopping), finish: bool) -> Vec<StageCost> {
    let n = sides.len();
    sides
        .iter()
        .enumerate()
        .map(|(k, &side)| {
            let last = k + 1 == n;
            StageCost {
                side,
                factor: if last { finish_factor } else { 1.0 },
                iterations: expected_iterations(if last { stopping.1 } else { stopping.0 }, last && finish),
            }
        })
        .collect()
}

impl Progressed<'_> {
    /// The stages of a run ending at `side`, after the one painted: the ladder to `side` above it.
    fn stages(&self, side: u32) -> Vec<StageCost> {
        let sides: Vec<u32> = scale_ladder(side, self.done_side + 1).into_iter().filter(|&s| s > self.done_side).collect();
        stage_costs(&sides, self.finish_factor, self.stopping, self.finish)
    }
}

/// Plan the rest of a run to end within `pace`'s budget at `speed`: the size asked for where it
/// fits (or where the person chose it); otherwise the largest size, a multiple of 32 px above the
/// size just painted and at least `pace.min_side` (or the size asked, if smaller), whose stages
/// fit the time left; where none does, that smallest size. Models and stopping rules are the
/// run's own: a planned run is painted as the default one is, smaller.
pub fn plan_rest(pace: &Pace, speed: Speed, run: &Progressed, model_name: &str) -> Planned {
    let Some(&asked) = run.rest.last() else {
        return Planned { sides: Vec::new(), seconds: 0.0, line: None };
    };
    let left = (pace.budget_s as f64 - run.spent_s).max(0.0);
    let cost = |side: u32| speed.seconds(&run.stages(side), run.photo);
    let asked_s = cost(asked);
    let budget = exactly(pace.budget_s as f64);
    if asked_s <= left {
        return Planned { sides: run.rest.to_vec(), seconds: asked_s, line: None };
    }
    if pace.size_fixed {
        let line = format!(
            "{asked} px, as you chose: about {} more here, past the {budget} time limit.",
            minutes(asked_s)
        );
        return Planned { sides: run.rest.to_vec(), seconds: asked_s, line: Some(line) };
    }
    // A planned size is a multiple of SIDE_STEP above the size just painted, and at most the
    // size asked.
    let above = (run.done_side / SIDE_STEP + 1) * SIDE_STEP;
    let floor = pace.min_side.min(asked).max(above).min(asked);
    let why = format!("{model_name} at {asked} px would take about {} more here", minutes(asked_s));
    if floor == asked {
        let line = format!("{why}, past the {budget} time limit; a time limit paints no smaller than {floor} px.");
        return Planned { sides: run.rest.to_vec(), seconds: asked_s, line: Some(line) };
    }
    let mut side = (asked - 1) / SIDE_STEP * SIDE_STEP;
    while side > floor && cost(side) > left {
        side -= SIDE_STEP;
    }
    let side = side.max(floor);
    let seconds = cost(side);
    let sides: Vec<u32> = run.stages(side).iter().map(|s| s.side).collect();
    let line = if seconds <= left {
        format!("{why}; painting at {side} px instead, about {}, to end within the {budget} time limit.", minutes(seconds))
    } else {
        format!("{why}; painting at {side} px, the smallest planned size, about {} — past the {budget} time limit.", minutes(seconds))
    };
    Planned { sides, seconds, line: Some(line) }
}

/// A duration set by a person, as set: "90 s", "5 min", "1 h 30 min".
fn exactly(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec} s"),
        (0, min, 0) => format!("{min} min"),
        (0, min, sec) => format!("{min} min {sec} s"),
        (h, 0, _) => format!("{h} h"),
        (h, min, _) => format!("{h} h {min} min"),
    }
}

/// An estimated duration as a person reads it: "40 s", "4 min", "1 h 5 min".
pub fn minutes(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", (s + 30) / 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600 + 30) / 60),
    }
}
