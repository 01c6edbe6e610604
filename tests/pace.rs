#![cfg(not(target_family = "wasm"))]
//! A run planned to the device's measured speed: a fast and a slow device, simulated by stating
//! their speeds, and a real coarse-to-fine run whose plan is made after its first stage.

mod common;

use impasto::pace::{self, Pace, Progressed, Speed, plan_rest};
use impasto::stopping::Stopping;

const PHOTO: (u32, u32) = (1536, 1024);

/// The default ladder's rest after its 128 px stage: 256, then 512 px painted by the teacher.
fn default_rest(spent_s: f64) -> Progressed<'static> {
    Progressed {
        photo: PHOTO,
        done_side: 128,
        rest: &[256, 512],
        finish_factor: pace::TEACHER_COST,
        stopping: (Stopping::Auto(impasto::multiscale::TEACHER_LADDER.coarse_rule.unwrap()), Stopping::Auto(impasto::multiscale::TEACHER_LADDER.rule)),
        finish: true,
        spent_s,
    }
}

fn five_minutes(size_fixed: bool) -> Pace {
    Pace::new(300.0, size_fixed).unwrap()
}

/// Milliseconds per iteration of the distilled model at 128×85 px, as a device would show it.
fn speed(ms_at_128: f64) -> Speed {
    Speed::measured(ms_at_128 * 100.0, 100, (128, 85)).unwrap()
}

#[test]
fn a_fast_device_paints_the_size_asked_for() {
    let run = default_rest(5.0);
    let planned = plan_rest(&five_minutes(false), speed(30.0), &run, "VGG16");
    assert_eq!(planned.sides, vec![256, 512]);
    assert_eq!(planned.line, None);
    assert!(planned.seconds < 295.0, "{planned:?}");
}

#[test]
fn a_slow_device_gets_the_largest_size_that_ends_in_time() {
    // A single-threaded browser CPU engine: ~0.4 s an iteration at 128 px (the page's example).
    let run = default_rest(40.0);
    let pace = five_minutes(false);
    let slow = speed(400.0);
    let planned = plan_rest(&pace, slow, &run, "VGG16");
    let last = *planned.sides.last().unwrap();
    assert!((pace::MIN_PLANNED_SIDE..512).contains(&last) && last.is_multiple_of(32), "{planned:?}");
    assert!(planned.seconds <= 300.0 - 40.0, "{planned:?}");
    // The largest such size: 32 px more would not end in time.
    let larger = plan_rest(&Pace { budget_s: 1e6, ..pace }, slow, &Progressed { rest: &[last + 32], ..run }, "VGG16");
    assert!(larger.seconds > 300.0 - 40.0, "{larger:?} after {planned:?}");
    // Every stage is above the one painted, in increasing order, ending at the planned size.
    assert!(planned.sides.windows(2).all(|w| w[0] < w[1]) && planned.sides[0] > 128);
    let line = planned.line.unwrap();
    assert!(line.contains("VGG16 at 512 px") && line.contains(&format!("{last} px")) && line.contains("5 min time limit"), "{line}");
}

#[test]
fn a_very_slow_device_never_goes_below_the_smallest_planned_size() {
    let run = default_rest(200.0);
    let planned = plan_rest(&five_minutes(false), speed(5000.0), &run, "VGG16");
    assert_eq!(planned.sides.last(), Some(&pace::MIN_PLANNED_SIDE), "{planned:?}");
    assert!(planned.seconds > 100.0);
    assert!(planned.line.unwrap().contains("past the 5 min time limit"));
    // A run asked smaller than that is never made larger, nor smaller.
    let small = plan_rest(&five_minutes(false), speed(5000.0), &Progressed { rest: &[192], ..run }, "VGG16");
    assert_eq!(small.sides, vec![192]);
    assert!(small.line.unwrap().contains("a time limit paints no smaller than 192 px"));
    // Planned after a stage of 256 px or more, the size stays a multiple of 32 above it.
    let big = Progressed { done_side: 256, rest: &[512, 1024], ..run };
    let planned = plan_rest(&five_minutes(false), speed(5000.0), &big, "VGG16");
    assert_eq!(planned.sides.last(), Some(&288), "{planned:?}");
}

#[test]
fn a_size_chosen_by_hand_is_kept_and_estimated() {
    let run = default_rest(40.0);
    let planned = plan_rest(&five_minutes(true), speed(400.0), &run, "VGG16");
    assert_eq!(planned.sides, vec![256, 512]);
    let line = planned.line.unwrap();
    assert!(line.contains("512 px, as you chose") && line.contains("past the 5 min time limit"), "{line}");
}

#[test]
fn a_budget_out_of_bounds_is_refused() {
    assert!(Pace::new(0.0, false).unwrap_err().to_string().contains("time budget"));
    assert!(Pace::new(1e7, false).is_err());
    assert!(Pace::new(f32::NAN, false).is_err());
}

#[test]
fn durations_read_as_a_person_reads_them() {
    assert_eq!(pace::minutes(40.0), "40 s");
    assert_eq!(pace::minutes(250.0), "4 min");
    assert_eq!(pace::minutes(3900.0), "1 h 5 min");
}

/// A run of 24, 48 then 96 px, 2 iterations a size, with a time budget of `budget_s` that may
/// plan down to 40 px, and `finish` painting its last size.
fn ladder(finish: Option<impasto::multiscale::Finish>, budget_s: f32) -> impasto::multiscale::MultiScale {
    let (content, style) = (common::decoded(&common::pattern(96, 64, 5)), common::decoded(&common::pattern(96, 64, 6)));
    let distilled = impasto::models::load(impasto::models::ModelKind::Distilled, &impasto::device::cpu()).unwrap();
    let config = impasto::Config { init: impasto::Init::Content, ..impasto::Config::default() };
    let sides = vec![24, 48, 96];
    let mut r = impasto::multiscale::MultiScale::new(config, content, vec![(style, 1.0)], 1.0, sides, Stopping::Fixed(2), distilled, finish, impasto::device::cpu(), None)
        .unwrap();
    r.set_pace(Pace { budget_s, size_fixed: false, min_side: 40 });
    r
}

/// A real run: its first stage's speed decides the rest. A budget already spent shrinks the run
/// to its smallest planned size (here 40 px); a generous one keeps it.
#[test]
fn a_run_is_planned_after_its_first_stage() {
    let run = |budget_s: f32| {
        let mut r = ladder(None, budget_s);
        let first = pollster::block_on(r.step()).unwrap();
        assert_eq!((first.stages, r.plan_line()), (3, None));
        let mut last = pollster::block_on(r.step()).unwrap();
        while !last.finished {
            last = pollster::block_on(r.step()).unwrap();
        }
        (r.sides().to_vec(), r.plan_line().map(String::from), last)
    };
    let (sides, line, last) = run(1e-3);
    assert_eq!(sides, vec![24, 40], "{line:?}");
    assert_eq!((last.stages, last.width.max(last.height)), (2, 40));
    assert!(line.unwrap().contains("painting at 40 px"));
    let (sides, line, _) = run(86_400.0);
    assert_eq!((sides, line), (vec![24, 48, 96], None));
}

/// A plan that makes the next stage the last, while the finishing model (VGG16, fetched while the
/// smaller sizes paint) is still to come: the run says it waits for it before that stage begins,
/// and its progress never goes back.
#[test]
fn a_plan_that_makes_the_next_stage_the_last_waits_for_the_finishing_model() {
    let pending = impasto::multiscale::Finish { model: None, optimizer: impasto::optim::OptimizerKind::Lbfgs, rule: Default::default(), coarse_rule: None };
    let mut r = ladder(Some(pending), 1e-3);
    let first = pollster::block_on(r.step()).unwrap();
    assert!(!r.awaits_finish());
    let second = pollster::block_on(r.step()).unwrap();
    assert_eq!(r.sides(), &[24, 40]);
    assert!(r.awaits_finish(), "the next stage is now the last, and its model is still to come");
    assert!(second.progress >= first.progress, "{first:?} {second:?}");
    assert!(r.plan_line().unwrap().starts_with("VGG16 at 96 px"));
}
