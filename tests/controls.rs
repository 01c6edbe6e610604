#![cfg(not(target_family = "wasm"))]
//! Creative controls: original colours, style blends, style scale — in the core and
//! the CLI.

mod common;

use common::decoded;

use impasto::image_io::{self, Image, chroma};
use impasto::loss::Term;
use impasto::models::{self, ModelKind};
use impasto::{Config, Stylizer};

fn distilled() -> impasto::Vgg {
    models::load(ModelKind::Distilled, &impasto::device::cpu()).expect("the committed distilled model")
}

fn mean_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
}

/// starry_night resized to the content's size (CS20's convention).
fn painting_at(content: &Image) -> Image {
    image_io::decode(&std::fs::read(common::shared_image("starry_night.jpg")).unwrap(), "s", Default::default())
        .unwrap()
        .to_size(content.width, content.height, "s")
        .unwrap()
}

fn run(config: Config, content: &Image, styles: &[(&Image, f32)], steps: u32) -> (Vec<impasto::StepRecord>, Image) {
    let mut s = Stylizer::with_styles(config, content, styles, distilled(), impasto::device::cpu()).unwrap();
    let records = pollster::block_on(s.step(steps)).unwrap();
    (records, pollster::block_on(s.image()).unwrap())
}

#[test]
fn original_colors_keep_the_contents_chroma() {
    let content = common::shared_working("tubingen.jpg", 48);
    let style = painting_at(&content);
    let (cb, cr) = chroma(&content);
    let (_, plain) = run(Config::default(), &content, &[(&style, 1.0)], 8);
    let (_, kept) = run(Config { original_colors: true, ..Config::default() }, &content, &[(&style, 1.0)], 8);
    let (pb, pr) = chroma(&plain);
    let (kb, kr) = chroma(&kept);
    let with = mean_abs_diff(&kb, &cb) + mean_abs_diff(&kr, &cr);
    let without = mean_abs_diff(&pb, &cb) + mean_abs_diff(&pr, &cr);
    // Only clamping to 0..255 can move the chroma when the colours are kept.
    assert!(with < 1.0, "chroma moved by {with} with --original-colors");
    assert!(without > 5.0 * with.max(0.5), "chroma moved by only {without} without it");
    // The luminance is the optimised image's in both (same seed, same run).
    let luma = |img: &Image| {
        let n = (img.width * img.height) as usize;
        (0..n).map(|i| 0.299 * img.pixels[i] + 0.587 * img.pixels[n + i] + 0.114 * img.pixels[2 * n + i]).collect::<Vec<f32>>()
    };
    assert!(mean_abs_diff(&luma(&plain), &luma(&kept)) < 1.0);
}

#[test]
fn a_blend_with_weights_one_and_zero_is_the_single_style_run() {
    let content = common::pattern(40, 32, 1);
    let a = common::pattern(40, 32, 2);
    let b = common::shared_working("starry_night.jpg", 40);
    let b = image_io::Image::from_planar(b.width, b.height, b.pixels).unwrap();
    let (single, _) = run(Config::default(), &content, &[(&a, 1.0)], 3);
    let (blend, _) = run(Config::default(), &content, &[(&a, 1.0), (&b, 0.0)], 3);
    for (x, y) in single.iter().zip(&blend) {
        assert_eq!((x.terms[Term::Content], x.terms[Term::Style]), (y.terms[Term::Content], y.terms[Term::Style]));
    }
    let (mixed, _) = run(Config::default(), &content, &[(&a, 0.5), (&b, 0.5)], 1);
    assert_ne!(mixed[0].terms[Term::Style], single[0].terms[Term::Style], "the second style changes the target");
    // Zero or negative weights everywhere are refused.
    let e = Stylizer::with_styles(Config::default(), &content, &[(&a, 0.0)], distilled(), impasto::device::cpu()).err().unwrap();
    assert!(e.to_string().contains("style weights"), "{e}");
}

#[test]
fn style_scale_resizes_the_style_and_keeps_the_loss_scale() {
    let content = common::pattern(48, 32, 3);
    let decoded = image_io::decode(&std::fs::read(common::shared_image("starry_night.jpg")).unwrap(), "s", Default::default()).unwrap();
    let big = image_io::working_style(&decoded, &content, 2.0, impasto::error::Input::Style(0)).unwrap();
    assert_eq!((big.width, big.height), (96, 64));
    let same = image_io::working_style(&decoded, &content, 1.0, impasto::error::Input::Style(0)).unwrap();
    assert_eq!((same.width, same.height), (48, 32));
    assert!(image_io::working_style(&decoded, &content, 0.01, impasto::error::Input::Style(0)).is_err());
    // Grams are put on the output's scale: the same painting at twice the size gives a style loss
    // of the same order (unnormalised, it would be many times larger).
    let (at1, _) = run(Config::default(), &content, &[(&same, 1.0)], 1);
    let (at2, _) = run(Config::default(), &content, &[(&big, 1.0)], 1);
    let ratio = at2[0].terms[Term::Style] / at1[0].terms[Term::Style];
    assert!((1.0 / 3.0..3.0).contains(&ratio), "style loss ratio {ratio} between scales 2 and 1");
}

#[test]
fn the_cli_blends_scales_and_keeps_colours() {
    let content = common::shared_image("tubingen.jpg");
    let (s1, s2) = (common::shared_image("starry_night.jpg"), common::shared_image("the_scream.jpg"));
    let out = std::env::temp_dir().join(format!("impasto-controls-{}.png", std::process::id()));
    let bin = env!("CARGO_BIN_EXE_impasto");
    let args = |extra: &[&str]| {
        let mut v = vec!["stylize", content.to_str().unwrap(), s1.to_str().unwrap(), s2.to_str().unwrap(), "-o", out.to_str().unwrap()];
        v.extend_from_slice(&["--size", "40", "--iterations", "2", "--backend", "cpu", "--quiet"]);
        v.extend_from_slice(extra);
        v.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let r = std::process::Command::new(bin)
        .args(args(&["--style-weights", "0.7,0.3", "--style-scale", "1.5", "--original-colors"]))
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(image::open(&out).is_ok());
    let r = std::process::Command::new(bin).args(args(&["--style-weights", "1"])).output().unwrap();
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--style-weights has 1 values for 2 style images"), "{err}");
    std::fs::remove_file(&out).ok();
}

#[test]
fn the_cli_writes_a_timelapse_gif() {
    use image::AnimationDecoder;
    let content = common::shared_image("tubingen.jpg");
    let style = common::shared_image("starry_night.jpg");
    let dir = std::env::temp_dir().join(format!("impasto-timelapse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (out, gif) = (dir.join("out.png"), dir.join("run.gif"));
    let bin = env!("CARGO_BIN_EXE_impasto");
    let common_args = [content.to_str().unwrap(), style.to_str().unwrap(), "-o", out.to_str().unwrap(), "--size", "32", "--backend", "cpu", "--quiet"];
    let r = std::process::Command::new(bin)
        .arg("stylize")
        .args(common_args)
        .args(["--iterations", "5", "--timelapse", gif.to_str().unwrap(), "--timelapse-every", "2"])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let decoder = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(std::fs::File::open(&gif).unwrap())).unwrap();
    let frames = decoder.into_frames().collect_frames().unwrap();
    // Iterations 1, 2, 4 and the last, 5.
    assert_eq!(frames.len(), 4);
    assert_eq!(frames[0].buffer().dimensions(), (32, 24));
    assert_ne!(frames[0].buffer().as_raw(), frames[3].buffer().as_raw(), "the run moves");
    let r = std::process::Command::new(bin)
        .arg("stylize")
        .args(common_args)
        .args(["--iterations", "2", "--timelapse", dir.join("run.webm").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("animated GIF"), "{}", String::from_utf8_lossy(&r.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn presets_range_from_faithful_to_bold() {
    use impasto::Preset;
    let content = common::shared_working("tubingen.jpg", 48);
    let style = painting_at(&content);
    // Balanced is CS20's recipe but for α, which keeps the photo where a run goes on to the loss's minimum.
    let balanced = Preset::Balanced.config().0;
    assert_eq!(Config { weights: Config::default().weights, ..balanced.clone() }, Config::default());
    assert_eq!(balanced.weights.content, impasto::stylize::BALANCED_CONTENT_WEIGHT);
    // After the same number of steps, the faithful run is nearest the photo (in features and in
    // pixels), the bold one farthest.
    let runs: Vec<(f32, f32)> = Preset::ALL
        .iter()
        .map(|p| {
            let (records, img) = run(p.config().0, &content, &[(&style, 1.0)], 30);
            (records.last().unwrap().terms[Term::Content], mean_abs_diff(&img.pixels, &content.pixels))
        })
        .collect();
    assert!(runs[0].0 < runs[1].0 && runs[1].0 < runs[2].0, "content losses {runs:?}");
    assert!(runs[0].1 < runs[1].1 && runs[1].1 < runs[2].1, "pixel distances {runs:?}");
    // The CLI names the presets when given one it does not know (its options override single
    // settings of a preset: --preset bold --iterations 5 is allowed).
    let img = common::shared_image("tubingen.jpg");
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_impasto"))
        .args(["stylize", img.to_str().unwrap(), img.to_str().unwrap(), "-o", "/tmp/x.png", "--preset", "vivid"])
        .output()
        .unwrap();
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--preset") && err.contains("cs20"), "{err}");
}

#[test]
fn coarse_to_fine_continues_from_the_smaller_result() {
    use impasto::multiscale::scale_ladder;
    assert_eq!(scale_ladder(4096, 128), vec![1024, 2048, 4096]);
    assert_eq!(scale_ladder(300, 128), vec![150, 300]);
    assert_eq!(scale_ladder(100, 128), vec![100]);
    // A stylizer started from a given image computes its first loss on that image: started from
    // the content itself, the content loss is zero.
    let content = common::pattern(48, 32, 5);
    let style = common::pattern(48, 32, 6);
    let mut s = Stylizer::with_start(Config::default(), &content, &[(&style, 1.0)], distilled(), impasto::device::cpu(), Some(&content))
        .unwrap();
    assert_eq!(pollster::block_on(s.step(1)).unwrap()[0].terms[Term::Content], 0.0);
    let small = common::pattern(24, 16, 7);
    assert!(Stylizer::with_start(Config::default(), &content, &[(&style, 1.0)], distilled(), impasto::device::cpu(), Some(&small)).is_err());
    // The CLI runs the ladder and writes the full size.
    let out = std::env::temp_dir().join(format!("impasto-multiscale-{}.png", std::process::id()));
    let gif = out.with_extension("gif");
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_impasto"))
        .args(["stylize", common::shared_image("tubingen.jpg").to_str().unwrap(), common::shared_image("starry_night.jpg").to_str().unwrap()])
        .args(["-o", out.to_str().unwrap(), "--max-size", "256", "--iterations", "2", "--backend", "cpu", "--quiet"])
        .args(["--timelapse", gif.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(image::image_dimensions(&out).unwrap(), (256, 192));
    // The timelapse spans both stages (2 + 2 iterations: every one is a frame here) at one size.
    use image::AnimationDecoder;
    let frames = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(std::fs::File::open(&gif).unwrap()))
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 4);
    assert!(frames.iter().all(|f| f.buffer().dimensions() == (128, 96)));
    std::fs::remove_file(&out).ok();
    std::fs::remove_file(&gif).ok();
}


#[test]
fn multiscale_steps_through_the_ladder_and_continues_each_stage_from_the_last() {
    use impasto::multiscale::MultiScale;
    use impasto::stopping::Stopping;
    let content = common::pattern(48, 32, 5);
    let style = common::pattern(48, 32, 6);
    let config = Config { init: impasto::Init::Content, ..Config::default() };
    let mut run = MultiScale::new(
        config.clone(),
        decoded(&content),
        vec![(decoded(&style), 1.0)],
        1.0,
        vec![24, 48],
        Stopping::Fixed(2),
        distilled(),
        None,
        impasto::device::cpu(),
        None,
    )
    .unwrap();
    assert_eq!(run.total_iterations(), Some(4));
    let records: Vec<_> = (0..4).map(|_| pollster::block_on(run.step()).unwrap()).collect();
    let seen: Vec<(u32, u32, u32, u32, u32)> =
        records.iter().map(|r| (r.iteration, r.stage_iteration, r.stage, r.width, r.height)).collect();
    assert_eq!(seen, vec![(1, 1, 1, 24, 16), (2, 2, 1, 24, 16), (3, 1, 2, 48, 32), (4, 2, 2, 48, 32)]);
    assert!(records.iter().all(|r| r.stages == 2));
    assert!(records.windows(2).all(|w| w[1].elapsed_ms >= w[0].elapsed_ms));
    // Started from the photo, stage 1's first content loss is zero; stage 2 starts from stage 1's
    // (stylised, upsampled) result, not from the photo again.
    assert_eq!(records[0].terms[Term::Content], 0.0);
    assert!(records[2].terms[Term::Content] > 0.0, "{:?}", records[2]);
    let img = pollster::block_on(run.image()).unwrap();
    assert_eq!((img.width, img.height), (48, 32));
    // Sizes must increase, and every stage is checked before any work.
    let bad = |sides: Vec<u32>| {
        MultiScale::new(config.clone(), decoded(&content), vec![(decoded(&style), 1.0)], 1.0, sides, Stopping::Fixed(2), distilled(), None, impasto::device::cpu(), None)
            .err()
            .map(|e| e.to_string())
    };
    assert!(bad(vec![48, 24]).unwrap().contains("must increase"));
    assert!(bad(vec![8, 48]).unwrap().contains("too small"));
}

/// A ladder's last stage painted by another model and optimizer (the teacher by L-BFGS, as the
/// CLI paints `--model teacher --max-size`): the stages before it are the plain run's; the last
/// starts from the same image, judged by the finishing model, and steps by its optimizer.
#[test]
fn a_finishing_model_and_optimizer_paint_only_the_last_stage() {
    use impasto::multiscale::{Finish, MultiScale, ScaleRecord};
    use impasto::optim::OptimizerKind;
    use impasto::stopping::Stopping;
    let content = common::pattern(48, 32, 5);
    let style = common::pattern(48, 32, 6);
    let config = Config { init: impasto::Init::Content, ..Config::default() };
    let device = impasto::device::cpu();
    let teacher = common::teacher(&device);
    let run = |finish: Option<Finish>| -> Vec<ScaleRecord> {
        let mut r = MultiScale::new(config.clone(), decoded(&content), vec![(decoded(&style), 1.0)], 1.0, vec![24, 48], Stopping::Fixed(3), distilled(), finish, device.clone(), None)
            .unwrap();
        (0..6).map(|_| pollster::block_on(r.step()).unwrap()).collect()
    };
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1e-6);
    let same = |a: &ScaleRecord, b: &ScaleRecord| close(a.terms[Term::Content], b.terms[Term::Content]) && close(a.terms[Term::Style], b.terms[Term::Style]);
    let plain = run(None);
    // A fresh run of one size with a finish paints that size with its own model first; resumed
    // from an image, a run of one size is its own last stage (as a resumed run's last stage is).
    let start = decoded(&content).to_working(48, "the content image").unwrap();
    let one = |finish: Option<Finish>, start: Option<&impasto::image_io::Image>| -> ScaleRecord {
        let mut r = MultiScale::new(config.clone(), decoded(&content), vec![(decoded(&style), 1.0)], 1.0, vec![48], Stopping::Fixed(1), distilled(), finish, device.clone(), start.map(|i| (i, 0)))
            .unwrap();
        pollster::block_on(r.step()).unwrap()
    };
    let finish = || Some(Finish { model: Some(teacher.clone()), optimizer: OptimizerKind::Lbfgs, rule: Default::default(), coarse_rule: None });
    let fresh = one(finish(), None);
    assert!(same(&one(None, None), &fresh) && fresh.stages == 2, "{fresh:?}");
    let alone = one(finish(), Some(&start));
    assert!(!same(&one(None, Some(&start)), &alone) && alone.stages == 1, "{alone:?}");
    let by_adam = run(Some(Finish { model: Some(teacher.clone()), optimizer: OptimizerKind::Adam, rule: Default::default(), coarse_rule: None }));
    let by_lbfgs = run(Some(Finish { model: Some(teacher), optimizer: OptimizerKind::Lbfgs, rule: Default::default(), coarse_rule: None }));
    for i in 0..3 {
        assert!(same(&plain[i], &by_lbfgs[i]) && same(&plain[i], &by_adam[i]), "stage 1, iteration {i}: {:?} {:?}", plain[i], by_lbfgs[i]);
    }
    // Stage 2's first record: the same start image, the teacher's losses (not the distilled model's).
    assert!(same(&by_adam[3], &by_lbfgs[3]), "{:?} {:?}", by_adam[3], by_lbfgs[3]);
    assert!(!same(&plain[3], &by_lbfgs[3]), "{:?} {:?}", plain[3], by_lbfgs[3]);
    // Then the optimizers part: L-BFGS steps differently from Adam.
    assert!(!same(&by_adam[5], &by_lbfgs[5]), "{:?} {:?}", by_adam[5], by_lbfgs[5]);
    assert!(by_lbfgs.iter().all(|r| r.terms[Term::Content].is_finite() && r.terms[Term::Style].is_finite()));
    // Progress weighs each stage by its expected time: its pixels, its model's cost per pixel
    // (the teacher's finish: pace::TEACHER_COST times the distilled model's) and its iterations
    // (3 each): with the teacher finishing, the distilled stage is a smaller share of the run.
    let share = |factor: f32| (24.0 * 16.0) / (24.0 * 16.0 + 48.0 * 32.0 * factor);
    assert!(close(plain[2].progress, share(1.0)), "{:?}", plain[2]);
    assert!(close(by_lbfgs[2].progress, share(impasto::pace::TEACHER_COST as f32)), "{:?}", by_lbfgs[2]);
    assert!(by_lbfgs[2].progress < 0.5 * plain[2].progress, "{} vs {}", by_lbfgs[2].progress, plain[2].progress);
    // In a run that stops by itself, the stages before the last stop by the finish's coarse
    // rule where it has one (here capped at 3 iterations), else by the run's (at least 40).
    let stages = |coarse_rule| {
        let finish = Finish { model: Some(distilled()), optimizer: OptimizerKind::Adam, rule: Default::default(), coarse_rule };
        let mut r = MultiScale::new(config.clone(), decoded(&content), vec![(decoded(&style), 1.0)], 1.0, vec![24, 48], Stopping::from_iterations(None), distilled(), Some(finish), device.clone(), None)
            .unwrap();
        (0..4).map(|_| pollster::block_on(r.step()).unwrap().stage).collect::<Vec<_>>()
    };
    let capped = impasto::stopping::StopRule { max_iterations: 3, ..Default::default() };
    assert_eq!(stages(Some(capped)), vec![1, 1, 1, 2]);
    assert_eq!(stages(None), vec![1, 1, 1, 1]);

    // A finish whose model is still to come (the page fetching the teacher while the smaller
    // sizes paint): the stages before the last run as before; the run then waits for it (a step
    // fails, nothing is lost) and, given it, paints as the run given it at the start did — or,
    // told it will not come, paints the last stage as the plain run does.
    let pending = || Some(Finish { model: None, optimizer: OptimizerKind::Lbfgs, rule: Default::default(), coarse_rule: None });
    let waiting = || {
        let mut r = MultiScale::new(config.clone(), decoded(&content), vec![(decoded(&style), 1.0)], 1.0, vec![24, 48], Stopping::Fixed(3), distilled(), pending(), device.clone(), None)
            .unwrap();
        let mut records = Vec::new();
        while !r.awaits_finish() {
            assert!(r.finish_pending());
            records.push(pollster::block_on(r.step()).unwrap());
        }
        (r, records)
    };
    let (mut given, mut records) = waiting();
    assert_eq!(records.len(), 3, "the first stage, then the wait");
    assert!(records.iter().zip(&by_lbfgs).all(|(a, b)| same(a, b)), "{records:?}");
    assert_eq!(records[2].progress, by_lbfgs[2].progress, "weighed by the teacher's cost before it arrives");
    let err = pollster::block_on(given.step()).unwrap_err();
    assert!(matches!(err, impasto::Error::ModelUnavailable(_)), "{err}");
    assert!(given.awaits_finish(), "a failed step changes nothing");
    assert_eq!(given.stage_models(models::ModelKind::Distilled), ["distilled", "teacher"]);
    given.finish_with(common::teacher(&device)).unwrap();
    assert!(!given.finish_pending() && given.finish_with(distilled()).is_err(), "given once");
    records.extend((0..3).map(|_| pollster::block_on(given.step()).unwrap()));
    assert!(records.iter().zip(&by_lbfgs).all(|(a, b)| same(a, b)), "{records:?} {by_lbfgs:?}");
    let (mut without, mut records) = waiting();
    without.finish_without();
    assert_eq!(without.stage_models(models::ModelKind::Distilled), ["distilled", "distilled"]);
    records.extend((0..3).map(|_| pollster::block_on(without.step()).unwrap()));
    assert!(records.iter().zip(&plain).all(|(a, b)| same(a, b)), "{records:?} {plain:?}");
    assert!(records.windows(2).all(|w| w[0].progress <= w[1].progress), "progress only moves forward: {records:?}");
    // A fresh run of one size paints that size with its own model first, then waits for the
    // finish there.
    let mut one = MultiScale::new(config.clone(), decoded(&content), vec![(decoded(&style), 1.0)], 1.0, vec![48], Stopping::Fixed(2), distilled(), pending(), device.clone(), None)
        .unwrap();
    assert_eq!(one.sides(), [48, 48]);
    assert_eq!(one.stage_models(models::ModelKind::Distilled), ["distilled", "teacher"]);
    let first: Vec<_> = (0..2).map(|_| pollster::block_on(one.step()).unwrap()).collect();
    assert!(first.iter().all(|r| r.stage == 1 && r.stages == 2 && r.width.max(r.height) == 48), "{first:?}");
    assert!(one.awaits_finish());
    // Resumed from its image, a run of one size is its finish alone, which cannot start while
    // its model is still to come.
    let image = pollster::block_on(one.image()).unwrap();
    let resumed = MultiScale::new(config.clone(), decoded(&content), vec![(decoded(&style), 1.0)], 1.0, vec![48], Stopping::Fixed(1), distilled(), pending(), device.clone(), Some((&image, 0)));
    assert!(matches!(resumed.err(), Some(impasto::Error::ModelUnavailable(_))));
}

/// When a run asked of the teacher paints the teacher's ladder: the CLI, the page and the lab
/// ask `TEACHER_LADDER.models`, and it holds only where the recipe was measured.
#[test]
fn the_teachers_ladder_applies_only_where_it_was_measured() {
    use impasto::budget::{lbfgs_bytes, memory_estimate};
    use impasto::models::ModelKind::{Distilled, Teacher};
    use impasto::multiscale::TEACHER_LADDER;
    use impasto::Preset;
    let device = impasto::device::cpu();
    let teacher = common::teacher(&device);
    let balanced = Some(Preset::DEFAULT);
    let config = Preset::DEFAULT.config().0;
    let photo = (1600, 1200);
    let applies = |preset, config: &Config, sides: &[u32], photo| TEACHER_LADDER.applies(&teacher, preset, config, sides, photo);
    assert!(applies(balanced, &config, &[192, 384], photo));
    // The seed, the colours and the device's limits (where the last size fits whole) are not the
    // recipe.
    let roomy = Config { seed: 7, original_colors: true, max_memory_bytes: Some(8 << 30), max_buffer_bytes: Some(1 << 30), ..config.clone() };
    assert!(applies(balanced, &roomy, &[128, 256, 512], photo));
    assert!(applies(balanced, &config, &[384], photo), "one size: the distilled model there first, then the teacher");
    assert!(!applies(balanced, &config, &[96], photo), "one size under the smallest stage: not measured");
    assert!(!applies(Some(Preset::Cs20), &config, &[192, 384], photo), "CS20's preset is CS20's recipe");
    assert!(!applies(None, &config, &[192, 384], photo), "settings changed by hand");
    for changed in [
        Config { weights: impasto::loss::LossWeights { content: 1.0, ..config.weights }, ..config.clone() },
        config.with_optimizer(impasto::optim::OptimizerKind::Lbfgs),
        Config { learning_rate: 1.5, ..config.clone() },
        Config { tile: Some(256), ..config.clone() },
    ] {
        assert!(!applies(balanced, &changed, &[192, 384], photo), "{changed:?}");
    }
    // The last size is painted whole, L-BFGS's history beside it: not over 2048×2048 (tiled),
    // not where the device's memory holds Adam's run but not L-BFGS's.
    assert!(applies(balanced, &config, &[1024, 2048], (2048, 2048)));
    assert!(!applies(balanced, &config, &[1536, 3072], (3072, 3072)));
    let need = memory_estimate(&teacher, 384, 288);
    let tight = |bytes| Config { max_memory_bytes: Some(bytes), ..config.clone() };
    assert!(!applies(balanced, &tight(need), &[192, 384], photo));
    assert!(applies(balanced, &tight(need + lbfgs_bytes(384, 288)), &[192, 384], photo));
    assert!(!applies(balanced, &Config { max_buffer_bytes: Some(1 << 20), ..config.clone() }, &[192, 384], photo), "a buffer too small for conv1_1");

    // Before the teacher's weights are here, its shape decides the same way.
    let shape = impasto::vgg::TeacherShape { conv: teacher.conv };
    assert_eq!(memory_estimate(&shape, 384, 288), need);
    for (w, h) in [(16, 16), (384, 288), (1001, 333)] {
        use impasto::budget::Footprint;
        assert_eq!(shape.macs(w, h), teacher.macs(w, h));
        assert_eq!(Footprint::activation_floats(&shape, w, h), teacher.activation_floats(w, h));
        assert_eq!(Footprint::largest_activation_floats(&shape, w, h), teacher.largest_activation_floats(w, h));
    }
    assert_eq!(shape.num_params(), teacher.num_params());

    // Which models paint: the distilled model the smaller sizes, the teacher the last.
    use impasto::models::ModelChoice;
    let asked = std::cell::RefCell::new(Vec::new());
    let mut load = |kind| {
        asked.borrow_mut().push(kind);
        Ok(if kind == Teacher { teacher.clone() } else { distilled() })
    };
    let params = |m: &Option<impasto::Vgg>| m.as_ref().map(impasto::Vgg::num_params);
    let (painter, finish) = TEACHER_LADDER.models(ModelChoice::Teacher, balanced, &config, &[192, 384], photo, &mut load).unwrap();
    let finish = finish.expect("the teacher finishes");
    assert_eq!((painter.num_params(), params(&finish.model)), (distilled().num_params(), Some(teacher.num_params())));
    assert_eq!(finish.optimizer, TEACHER_LADDER.optimizer);
    let (plain, none) = TEACHER_LADDER.models(ModelChoice::Distilled, balanced, &config, &[192, 384], photo, &mut load).unwrap();
    assert!(none.is_none() && plain.num_params() == distilled().num_params(), "the distilled model paints alone");
    let (alone, none) = TEACHER_LADDER.models(ModelChoice::Teacher, None, &config, &[192, 384], photo, &mut load).unwrap();
    assert!(none.is_none() && alone.num_params() == teacher.num_params());
    assert_eq!(*asked.borrow(), vec![Teacher, Distilled, Distilled, Teacher], "only what paints is loaded");
    // Auto (the default): the teacher's ladder where it applies, the distilled model alone
    // elsewhere, never the teacher alone.
    asked.borrow_mut().clear();
    let (painter, finish) = TEACHER_LADDER.models(ModelChoice::Auto, balanced, &config, &[192, 384], photo, &mut load).unwrap();
    assert_eq!((painter.num_params(), finish.map(|f| params(&f.model))), (distilled().num_params(), Some(Some(teacher.num_params()))));
    for (preset, sides) in [(balanced, &[96][..]), (Some(Preset::Cs20), &[192, 384][..]), (None, &[192, 384][..])] {
        let (painter, finish) = TEACHER_LADDER.models(ModelChoice::Auto, preset, &config, sides, photo, &mut load).unwrap();
        assert!(finish.is_none() && painter.num_params() == distilled().num_params(), "{preset:?} {sides:?}");
    }
    // One size from the smallest stage up: the distilled model there first, the teacher's finish.
    let (painter, finish) = TEACHER_LADDER.models(ModelChoice::Auto, balanced, &config, &[384], photo, &mut load).unwrap();
    assert_eq!((painter.num_params(), finish.map(|f| params(&f.model))), (distilled().num_params(), Some(Some(teacher.num_params()))));
    assert_eq!(*asked.borrow(), vec![Distilled, Teacher, Distilled, Distilled, Distilled, Distilled, Teacher], "the teacher only where it finishes");
    // Without the teacher's weights: Auto's finish waits for them; asked for by name, an error.
    let mut no_teacher = |kind: models::ModelKind| if kind == Distilled { Ok(distilled()) } else { Err(kind.unavailable()) };
    let (_, finish) = TEACHER_LADDER.models(ModelChoice::Auto, balanced, &config, &[192, 384], photo, &mut no_teacher).unwrap();
    assert!(finish.expect("a finish").is_pending());
    let err = TEACHER_LADDER.models(ModelChoice::Teacher, balanced, &config, &[192, 384], photo, &mut no_teacher).unwrap_err();
    assert!(matches!(err, impasto::Error::ModelUnavailable(_)), "{err}");
}

/// A run interrupted (a lost GPU) goes on at its stage, short of the iterations it had done
/// there, and climbs the rest of its ladder.
#[test]
fn a_resumed_run_climbs_the_rest_of_its_ladder() {
    use impasto::multiscale::{MultiScale, resumed_stages};
    use impasto::stopping::Stopping;
    // 3 iterations per stage at 128, 256, 512: 7 done = stage 3's first; 4 done = stage 2's first.
    assert_eq!(resumed_stages(&[128, 256, 512], Stopping::Fixed(3), 512, 7), (vec![512], 1));
    assert_eq!(resumed_stages(&[128, 256, 512], Stopping::Fixed(3), 256, 4), (vec![256, 512], 1));
    assert_eq!(resumed_stages(&[128, 256, 512], Stopping::Fixed(3), 128, 2), (vec![128, 256, 512], 2));
    // Interrupted right at a stage's end: that stage has nothing left, the next begins.
    assert_eq!(resumed_stages(&[128, 256, 512], Stopping::Fixed(3), 128, 3), (vec![128, 256, 512], 3));
    // A single-stage run, and a size the ladder no longer has.
    assert_eq!(resumed_stages(&[300], Stopping::Fixed(40), 300, 17), (vec![300], 17));
    assert_eq!(resumed_stages(&[128, 256], Stopping::Fixed(3), 200, 5), (vec![200], 0));
    assert_eq!(resumed_stages(&[128, 256], Stopping::from_iterations(None), 256, 5), (vec![256], 0));
    assert_eq!(resumed_stages(&[128, 256], Stopping::from_iterations(None), 128, 5), (vec![128, 256], 0), "a stage that stops by itself starts its measure afresh");

    let content = common::pattern(48, 32, 5);
    let style = common::pattern(48, 32, 6);
    let kept = common::pattern(24, 16, 7);
    let config = Config { init: impasto::Init::Content, ..Config::default() };
    let run = |start| {
        MultiScale::new(config.clone(), decoded(&content), vec![(decoded(&style), 1.0)], 1.0, vec![24, 48], Stopping::Fixed(3), distilled(), None, impasto::device::cpu(), start)
            .unwrap()
    };
    let mut resumed = run(Some((&kept, 2)));
    assert_eq!(resumed.total_iterations(), Some(4), "6 in all, 2 done before");
    let records: Vec<_> = (0..4).map(|_| pollster::block_on(resumed.step()).unwrap()).collect();
    let seen: Vec<(u32, u32, u32, u32)> = records.iter().map(|r| (r.iteration, r.stage_iteration, r.stage, r.width)).collect();
    assert_eq!(seen, vec![(1, 1, 1, 24), (2, 1, 2, 48), (3, 2, 2, 48), (4, 3, 2, 48)]);
    // It starts from the kept image, not from the photo (whose content loss would be zero).
    assert!(records[0].terms[Term::Content] > 0.0, "{:?}", records[0]);
    let fresh = pollster::block_on(run(None).step()).unwrap();
    assert_eq!(fresh.terms[Term::Content], 0.0);
}

#[test]
fn the_largest_side_respects_the_buffer_limit_and_the_memory_estimate() {
    use impasto::budget::tile_core;
    use impasto::budget::{DeviceBudget, memory_estimate};
    use impasto::tiled::padded_side;
    let model = distilled();
    let plenty = u64::MAX / 4;
    // conv1_1's 64 channels at full resolution are the largest buffer: 512x384 fits whole; larger
    // images are tiled (as the stylizer will), so the buffer no longer limits the size, only the
    // area cap does (4000x3000 → 2364x1773 ≤ 2048²).
    let small = 64 * 512 * 384 * 4;
    let by_buffer = DeviceBudget { max_buffer_bytes: small, memory_bytes: plenty };
    assert_eq!(tile_core(&model, 512, 384, None, Some(small), None), None);
    let core = tile_core(&model, 1024, 768, None, Some(small), None).expect("tiled");
    assert!(model.largest_activation_floats(padded_side(core), padded_side(core)) * 4 <= small);
    assert!(by_buffer.fits(&model, 512, 384) && by_buffer.fits(&model, 1024, 768));
    assert_eq!(by_buffer.largest_side(&model, 4000, 3000, 4096), Some(2364));
    // By memory: with the estimate at 640x480 as the budget, 640x480 runs whole; larger images
    // run tiled (as the stylizer will, told the same budget) while a tile and the whole-image
    // tensors fit: up to the area cap here.
    let budget = memory_estimate(&model, 640, 480);
    let by_memory = DeviceBudget { max_buffer_bytes: plenty, memory_bytes: budget };
    assert_eq!(tile_core(&model, 640, 480, None, None, Some(budget)), None);
    assert!(!by_memory.fits(&model, 641, 481) || tile_core(&model, 641, 481, None, None, Some(budget)).is_some());
    let core = tile_core(&model, 1600, 1200, None, None, Some(budget)).expect("tiled by memory");
    assert!(impasto::budget::tiled_memory_estimate(&model, 1600, 1200, core) <= budget);
    assert_eq!(by_memory.largest_side(&model, 640, 480, 4096), Some(2364));
    // A budget that holds no tile of a large image beside its whole-image tensors stops short.
    let tight = DeviceBudget { max_buffer_bytes: plenty, memory_bytes: memory_estimate(&model, 320, 240) };
    let side = tight.largest_side(&model, 640, 480, 4096).unwrap();
    assert!((320..2364).contains(&side), "{side}");
    assert!(tight.fits(&model, side, side * 3 / 4) && !tight.fits(&model, side + 4, (side + 4) * 3 / 4));
    // The estimate grows with the pixels, about linearly.
    let (a, b) = (memory_estimate(&model, 512, 512), memory_estimate(&model, 1024, 1024));
    assert!(b > 3 * a && b < 4 * a, "{a} {b}");
    // The cap on the area (2048x2048: larger areas fail inside burn's kernels), the cap on the
    // side, and a device too small for anything.
    let unlimited = DeviceBudget { max_buffer_bytes: plenty, memory_bytes: plenty };
    assert_eq!(unlimited.largest_side(&model, 1, 1, 4096), Some(2048));
    assert_eq!(unlimited.largest_side(&model, 4, 1, 4096), Some(4096));
    assert_eq!(unlimited.largest_side(&model, 4, 1, 1000), Some(1000));
    assert_eq!(DeviceBudget { max_buffer_bytes: 1024, memory_bytes: plenty }.largest_side(&model, 3, 2, 4096), None);
}

/// One plan for the CLI and the page: the size reduced to what the device holds (with a notice),
/// the ladder when coarse to fine, and a resumed run's rest of the ladder.
#[test]
fn the_run_plan_sizes_ladders_and_resumes() {
    use impasto::budget::DeviceBudget;
    use impasto::multiscale::{Holder, RunPlan, SizeRequest};
    use impasto::stopping::Stopping;
    let model = distilled();
    let req = |size, coarse_to_fine, largest| SizeRequest { size, coarse_to_fine, largest, smallest_stage: 128 };
    let fixed = Stopping::Fixed(10);
    // No budget: as asked, one size or the ladder.
    assert_eq!(RunPlan::new(req(512, false, false), (1024, 768), 8192, None, fixed, None).unwrap().sides, vec![512]);
    assert_eq!(RunPlan::new(req(1024, true, false), (1024, 768), 8192, None, fixed, None).unwrap().sides, vec![256, 512, 1024]);
    // A budget that holds less than asked: reduced, and the notice says so and names the device.
    let small = DeviceBudget { max_buffer_bytes: 1 << 40, memory_bytes: impasto::budget::memory_estimate(&model, 400, 300) };
    let holder = || Some(Holder { budget: &small, model: &model, name: "the CPU engine" });
    let plan = RunPlan::new(req(2000, false, false), (1024, 768), 4096, holder(), fixed, None).unwrap();
    let side = plan.sides[0];
    assert!((128..2000).contains(&side), "{plan:?}");
    assert!(plan.notice.as_deref().is_some_and(|n| n.contains("reduced from 2000") && n.contains("the CPU engine")), "{plan:?}");
    let largest = RunPlan::new(req(64, false, true), (1024, 768), 4096, holder(), fixed, None).unwrap();
    assert_eq!(*largest.sides.last().unwrap(), side, "the largest size is the one a reduction gives");
    assert!(largest.sides.len() > 1 && largest.notice.is_some());
    // Resumed at the ladder's second stage after 13 iterations of 10 per stage: 3 into it.
    let resumed = RunPlan::new(req(1024, true, false), (1024, 768), 8192, None, fixed, Some((512, 13))).unwrap();
    assert_eq!((resumed.sides, resumed.stage_done, resumed.notice), (vec![512, 1024], 3, None));
}

/// One builder of a run for every face (`run::RunSpec`): which models paint, and what happens
/// while the teacher is still to come. A site that can wait keeps the finish (the page fetches
/// VGG16 meanwhile); one that cannot (the CLI) paints without it and says so; a run resumed at
/// its last size does not wait, since nothing paints before that size.
#[test]
fn one_builder_decides_the_finish_for_every_site() {
    use impasto::error::Error;
    use impasto::models::ModelChoice;
    use impasto::multiscale::SizeRequest;
    use impasto::run::{Built, Resume, RunSpec, Site};
    use impasto::stylize::Preset;
    let (photo, style) = (common::pattern(160, 120, 1), common::pattern(160, 120, 2));
    let (config, stopping) = Preset::DEFAULT.config();
    let spec = |size, coarse_to_fine, preset| RunSpec {
        config: config.clone(),
        stopping,
        sizes: SizeRequest { size, coarse_to_fine, largest: false, smallest_stage: 128 },
        style_scale: 1.0,
        model: ModelChoice::Auto,
        preset,
        ladder: impasto::ladder::TEACHER_LADDER,
    };
    let device = impasto::device::cpu();
    let mut load = |kind: ModelKind| match kind {
        ModelKind::Distilled => Ok(distilled()),
        ModelKind::Teacher => Err(Error::ModelUnavailable("not yet".into())),
    };
    let mut build = |spec: RunSpec, can_wait: bool, resume: Option<Resume>| -> Built {
        let mut site = Site { device: device.clone(), cap: 4096, budget: None, finish_memory: None, load: &mut load, can_wait };
        spec.build(decoded(&photo), vec![(decoded(&style), 1.0)], &mut site, resume).unwrap()
    };
    let default = Some(Preset::DEFAULT);
    // A fresh run of one size is painted there twice, the finish waiting for VGG16.
    let waits = build(spec(128, false, default), true, None);
    assert!(waits.finishes && !waits.without_finish && waits.run.finish_pending());
    assert_eq!(waits.run.sides(), &[128, 128]);
    assert_eq!(waits.run.stage_models(waits.painter), ["distilled", "teacher"]);
    // The CLI cannot wait: one size, by the distilled model, and it says why.
    let cli = build(spec(128, false, default), false, None);
    assert!(!cli.finishes && cli.without_finish && cli.run.sides() == [128]);
    // Coarse to fine: the ladder, the finish on its last size.
    let ladder = build(spec(256, true, default), true, None);
    assert_eq!((ladder.run.sides(), ladder.finishes), (&[128, 256][..], true));
    // Resumed at the last size: painted without the finish.
    let image = decoded(&photo).to_working(256, "the photo").unwrap();
    let resumed = build(spec(256, true, default), true, Some(Resume { image, done: 3, onward: false }));
    assert!(!resumed.finishes && !resumed.without_finish && resumed.run.sides() == [256]);
    // Settings changed by hand, or a size under the smallest stage: the distilled model alone.
    for (size, preset) in [(256, None), (96, default)] {
        let plain = build(spec(size, true, preset), true, None);
        assert!(!plain.finishes && !plain.run.finish_pending(), "{size} {preset:?}");
    }
}
