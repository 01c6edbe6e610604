//! When runs stop: the rule on synthetic loss curves, a coarse-to-fine run that stops
//! by itself, and the classic recipe (`--preset cs20`) that still runs CS20's 300 iterations.

mod common;

use common::decoded;

use impasto::image_io;
use impasto::multiscale::MultiScale;
use impasto::stopping::{StageProgress, StopRule, Stopping};
use impasto::{Config, Init, Pooling, Preset, Stylizer};

const RULE: StopRule = StopRule { window: 10, tolerance: 1e-3, min_iterations: 15, max_iterations: 200 };

/// Feed `losses` until the stage says done; the iterations it took and every progress value.
fn run_rule(stopping: Stopping, losses: impl IntoIterator<Item = f32>) -> (Option<u32>, Vec<f32>) {
    let mut p = StageProgress::new(stopping, 0);
    let mut seen = vec![];
    for l in losses {
        p.push(l);
        seen.push(p.progress());
        if p.done() {
            return (Some(p.iterations()), seen);
        }
    }
    (None, seen)
}

#[test]
fn a_fixed_count_stops_at_the_count() {
    let (n, progress) = run_rule(Stopping::Fixed(7), (0..100).map(|i| 1.0 / (i + 1) as f32));
    assert_eq!(n, Some(7));
    assert_eq!(progress, vec![1.0 / 7.0, 2.0 / 7.0, 3.0 / 7.0, 4.0 / 7.0, 5.0 / 7.0, 6.0 / 7.0, 1.0]);
}

#[test]
fn the_rule_stops_when_the_best_loss_stops_improving() {
    // 5 % better each iteration, then flat from iteration 60: the rate ((1/0.95)^10 − 1)/10 ≈ 0.067
    // is far above the tolerance until the plateau has lasted a whole window.
    let curve = (0..300).map(|i| 1e6 * 0.95f32.powi(i.min(60)));
    let (n, progress) = run_rule(Stopping::Auto(RULE), curve);
    assert_eq!(n, Some(61 + 10), "stops one window into the plateau");
    assert!(progress.windows(2).all(|w| w[1] >= w[0]), "progress never goes back: {progress:?}");
    assert_eq!(*progress.last().unwrap(), 1.0);
    assert!(progress[..progress.len() - 1].iter().all(|&p| p < 1.0));

    // Never before min_iterations, even on a flat curve; never after max_iterations.
    assert_eq!(run_rule(Stopping::Auto(RULE), std::iter::repeat(5.0)).0, Some(15));
    // Still improving 1 % an iteration at the cap: the cap ends it, not the rule.
    assert_eq!(run_rule(Stopping::Auto(RULE), (0..1000).map(|i| 1e6 * 0.99f32.powi(i))).0, Some(200));
    let slow = (0..1000).map(|i| 1e9 / (1.0 + i as f32).powi(3));
    assert_eq!(run_rule(Stopping::Auto(RULE), slow).0, Some(200), "still improving 3/t a step: the cap ends it");
}

#[test]
fn spikes_do_not_stop_a_run() {
    // Adam at lr 2 oscillates: the curve improves 2 % per iteration with every third iteration a
    // spike to ten times the loss. The best loss still falls fast: no stop while it does.
    let spiky = (0..100).map(|i| 1e6 * 0.98f32.powi(i) * if i % 3 == 2 { 10.0 } else { 1.0 });
    assert_eq!(run_rule(Stopping::Auto(RULE), spiky).0, None);
    // Flat but spiky: the spikes are no progress, the rule stops at its minimum — or, where the
    // minimum falls on a spike (the 15th), at the next settled iteration (impasto::stopping::SETTLED).
    let flat = (0..100).map(|i| if i % 3 == 2 { 10.0 } else { 1.0 });
    assert_eq!(run_rule(Stopping::Auto(RULE), flat).0, Some(16));
    // A NaN loss (a broken step) is not progress either.
    let nan = (0..100).map(|i| if i == 14 { f32::NAN } else { 1.0 });
    assert_eq!(run_rule(Stopping::Auto(RULE), nan).0, Some(16), "the 15th (NaN) is not settled, the 16th is");
    // Not even as the first loss: the next finite one is the best.
    let nan_first = (0..300).map(|i| if i == 0 { f32::NAN } else { 1e6 * 0.95f32.powi(i.min(60)) });
    assert_eq!(run_rule(Stopping::Auto(RULE), nan_first).0, Some(61 + 10));
}

/// A stage still recovering from an overshoot (its latest loss over `SETTLED`× its best) is not
/// over, though its best has not moved for the whole window: it ends once the loss is back near
/// its best (an L-BFGS stage once ended mid-recovery on a ruined picture).
#[test]
fn a_stage_recovering_from_an_overshoot_is_not_over() {
    // Flat, then a 51× jump at the 13th iteration decaying by 0.7 an iteration: within 1.1× of
    // the best from the 31st (1 + 50·0.7¹⁸ = 1.08; 0.7¹⁷ gives 1.12).
    let recovering = (0..100).map(|i| if i < 12 { 1.0 } else { 1.0 + 50.0 * 0.7f32.powi(i - 12) });
    assert_eq!(run_rule(Stopping::Auto(RULE), recovering).0, Some(31));
    // The cap still ends a stage that never settles.
    let never = (0..300).map(|i| if i < 12 { 1.0 } else { 5.0 });
    assert_eq!(run_rule(Stopping::Auto(RULE), never).0, Some(200));
}

#[test]
fn a_stage_that_is_over_stays_over() {
    // Converged on a plateau, then stepped further while the loss falls again: still over, and
    // its progress stays 1.
    let mut p = StageProgress::new(Stopping::Auto(RULE), 0);
    for _ in 0..15 {
        p.push(1.0);
    }
    assert!(p.done());
    for i in 0..30 {
        p.push(0.5f32.powi(i));
        assert!(p.done() && p.progress() == 1.0);
    }
}

#[test]
fn the_progress_estimate_follows_the_rate_towards_the_tolerance() {
    // Improvement rate falling geometrically from ~0.05 to below 1e-3: progress rises with it.
    let mut loss = 1e6f32;
    let curve: Vec<f32> = (0..400)
        .map(|i| {
            loss *= 1.0 - 0.05 * 0.98f32.powi(i);
            loss
        })
        .collect();
    let (n, progress) = run_rule(Stopping::Auto(RULE), curve);
    let n = n.expect("converges") as usize;
    let half = progress[n / 2];
    assert!((0.25..0.85).contains(&half), "halfway through the iterations progress is {half}");
    assert!(progress[n - 2] > 0.8, "just before the end {}", progress[n - 2]);
}

#[test]
fn an_expected_count_holds_the_progress_of_a_stage_that_lingers_near_its_end() {
    // L-BFGS's way: the rate falls fast, then lingers just above the tolerance. By the rate
    // alone the stage looks all but over for most of its length; held to the share of its
    // expected iterations, it does not.
    let curve = |i: i32| if i < 15 { 1e6 * 0.5f32.powi(i) } else { 1e6 * 0.5f32.powi(15) * (1.0 - 0.003 * (i - 15) as f32) };
    let mut by_rate = StageProgress::new(Stopping::Auto(RULE), 0);
    let mut held = StageProgress::new(Stopping::Auto(RULE), 0).expecting(60);
    for i in 0..40 {
        by_rate.push(curve(i));
        held.push(curve(i));
    }
    assert!(!held.done() && !by_rate.done());
    assert!(by_rate.progress() > 0.9, "{}", by_rate.progress());
    assert!((0.6..=40.0 / 60.0 + 1e-6).contains(&held.progress()), "{}", held.progress());
}


#[test]
fn a_coarse_to_fine_run_stops_by_itself_at_each_stage() {
    let content = common::pattern(48, 32, 5);
    let style = common::pattern(48, 32, 6);
    let rule = StopRule { window: 5, tolerance: 5e-3, min_iterations: 8, max_iterations: 60 };
    let mut run = MultiScale::new(
        Config::default(),
        decoded(&content),
        vec![(decoded(&style), 1.0)],
        1.0,
        vec![24, 48],
        Stopping::Auto(rule),
        common::distilled(),
        None,
        impasto::device::cpu(),
        None,
    )
    .unwrap();
    assert_eq!(run.total_iterations(), None, "unknown in advance");
    let mut records = vec![];
    while records.last().is_none_or(|r: &impasto::multiscale::ScaleRecord| !r.finished) {
        records.push(pollster::block_on(run.step()).unwrap());
        assert!(records.len() <= 120, "ran past both stages' caps");
    }
    let stage1 = records.iter().filter(|r| r.stage == 1).count();
    let stage2 = records.len() - stage1;
    assert!((8..=60).contains(&stage1) && (8..=60).contains(&stage2), "{stage1} + {stage2} iterations");
    assert!(records.windows(2).all(|w| w[1].progress >= w[0].progress), "progress never goes back");
    assert!(records[stage1 - 1].progress > 0.0 && records[stage1 - 1].progress < 1.0);
    assert_eq!(records.last().unwrap().progress, 1.0);
    assert_eq!(records.iter().filter(|r| r.finished).count(), 1);
}

/// `--preset cs20` is CS20's recipe, and the CLI's run with it is the core's run of
/// `Config::default()` for 300 iterations (today's recipe before runs stopped by themselves).
#[test]
fn the_classic_preset_is_cs20s_recipe() {
    let (c, stopping) = Preset::Cs20.config();
    assert_eq!(stopping, Stopping::Fixed(300));
    // CS20 assignment 2: α 0.01, β 1, Adam lr 2 on 0..255, 0.6 noise + 0.4 content, avg pooling.
    assert_eq!((c.weights.content, c.weights.style, c.weights.tv), (0.01, 1.0, 0.0));
    assert_eq!((c.optimizer, c.learning_rate, c.init, c.noise_ratio, c.pooling), (impasto::optim::OptimizerKind::Adam, 2.0, Init::NoiseMix, 0.6, Pooling::Avg));
    assert_eq!(c, Config::default());
    assert_eq!(Preset::from_name("cs20"), Some(Preset::Cs20));
    assert!(Preset::Cs20.advanced() && !Preset::DEFAULT.advanced());
    // One size, as CS20 (the CLI without --size, the page's High resolution); the default preset
    // paints coarse to fine.
    assert!(!Preset::Cs20.coarse_to_fine() && Preset::DEFAULT.coarse_to_fine());

    let content_path = common::shared_image("tubingen.jpg");
    let style_path = common::shared_image("starry_night.jpg");
    let out = std::env::temp_dir().join(format!("impasto-cs20-{}.png", std::process::id()));
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_impasto"))
        .args(["stylize", content_path.to_str().unwrap(), style_path.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .args(["--preset", "cs20", "--size", "32", "--backend", "cpu", "--quiet"])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let cli = image_io::decode(&std::fs::read(&out).unwrap(), "out", Default::default()).unwrap().to_image();
    std::fs::remove_file(&out).ok();

    let read = |p: &std::path::Path| image_io::decode(&std::fs::read(p).unwrap(), "in", Default::default()).unwrap();
    let content = read(&content_path).to_working(32, "content").unwrap();
    let style = image_io::working_style(&read(&style_path), &content, 1.0, impasto::error::Input::Style(0)).unwrap();
    let mut s = Stylizer::new(Config::default(), &content, &style, common::distilled(), impasto::device::cpu()).unwrap();
    let records = pollster::block_on(s.step(300)).unwrap();
    assert_eq!(records.len(), 300);
    let core = pollster::block_on(s.image()).unwrap();
    assert_eq!((cli.width, cli.height), (core.width, core.height));
    let worst = cli.to_rgba8().iter().zip(core.to_rgba8()).map(|(a, b)| a.abs_diff(b)).max().unwrap();
    assert!(worst <= 1, "the CLI's cs20 run differs from 300 CS20 iterations by {worst}/255");
}
