//! The core in a browser (headless Chromium through wasm-bindgen-test): on WebGPU (SwiftShader in
//! CI) the forward pass, the losses and the image gradient agree with burn-flex running in the
//! same wasm module (with either convolution route), a few optimization steps lower the loss, and the tiled losses and gradient
//! equal the whole image's; the CPU engine's own pass agrees with burn-flex's autodiff.
//!
//! Run: `cargo test --release --target wasm32-unknown-unknown --test web` (scripts/test does,
//! with chromedriver and `webdriver.json` passing `--enable-unsafe-webgpu`).
#![cfg(target_family = "wasm")]

use burn::tensor::Device;
use impasto::device::read;
use impasto::image_io::Image;
use impasto::loss::{LossWeights, Targets};
use impasto::stylize::{loss_and_gradient, to_tensor};
use impasto::tiled::{self, TiledTargets};
use impasto::vgg::ConvAlgorithm;
use impasto::{Config, Pooling, Stylizer, Vgg};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

const TEACHER: &[u8] = include_bytes!("../models/vgg16-teacher.bpk");

fn pattern(width: u32, height: u32, seed: u64) -> Image {
    let mut rng = impasto::rng::SplitMix64::new(seed);
    let pixels = (0..3 * width * height).map(|_| rng.uniform(0.0, 255.0)).collect();
    Image::from_planar(width, height, pixels).unwrap()
}

async fn webgpu() -> Device {
    Device::wgpu_options()
        .graphics_api(burn::tensor::wgpu::WgpuBackend::WebGpu)
        .init_async()
        .await
        .expect("WebGPU adapter (Chromium needs --enable-unsafe-webgpu)")
}

async fn losses_and_gradient(device: &Device, conv: ConvAlgorithm) -> (Vec<f32>, Vec<f32>) {
    losses_and_gradient_of(TEACHER, device, conv, Pooling::Avg).await
}

async fn losses_and_gradient_of(weights: &[u8], device: &Device, conv: ConvAlgorithm, pooling: Pooling) -> (Vec<f32>, Vec<f32>) {
    let model = Vgg::from_bytes(weights.to_vec(), device).unwrap().with_conv(conv);
    let (w, h) = (24, 16);
    let targets = Targets::new(&model, to_tensor(&pattern(w, h, 1), device), to_tensor(&pattern(w, h, 2), device), pooling);
    let weights = LossWeights { content: 0.01, style: 1.0, tv: 0.1 };
    let (parts, g) = loss_and_gradient(&model, &targets, to_tensor(&pattern(w, h, 3), device), weights, pooling).unwrap();
    (read(parts.stacked()).await.unwrap(), read(g).await.unwrap())
}

/// The CPU engine's own pass (the page's CPU route, gemm's simd128 kernels in wasm) gives the
/// losses and image gradient of burn's autodiff through its own convolutions, on both models
/// (every layer shape of each) and both poolings.
#[wasm_bindgen_test]
async fn the_cpu_engines_own_pass_agrees_with_burns_autodiff() {
    let cpu = impasto::device::cpu();
    assert_eq!(ConvAlgorithm::for_device(&cpu), ConvAlgorithm::Host);
    for (weights, name) in [(TEACHER, "teacher"), (DISTILLED, "distilled")] {
        for pooling in [Pooling::Avg, Pooling::Max] {
            let (la, ga) = losses_and_gradient_of(weights, &cpu, ConvAlgorithm::Direct, pooling).await;
            let (lb, gb) = losses_and_gradient_of(weights, &cpu, ConvAlgorithm::Host, pooling).await;
            for (a, b) in la.iter().zip(&lb) {
                assert!((a - b).abs() <= 2e-4 * a.abs().max(1e-6), "{name}, {pooling:?}: loss {a} (burn) vs {b} (host)");
            }
            let scale = ga.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let worst = ga.iter().zip(&gb).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(scale > 0.0 && worst <= 2e-4 * scale, "{name}, {pooling:?}: gradient differs by {worst} (scale {scale})");
        }
    }
}

#[wasm_bindgen_test]
async fn webgpu_agrees_with_cpu_and_optimizes() {
    let gpu = webgpu().await;
    let (lc, gc) = losses_and_gradient(&impasto::device::cpu(), ConvAlgorithm::Direct).await;
    // Both convolution routes on WebGPU: the direct one (what the page takes on SwiftShader) and
    // the matmul one (what it takes on other adapters).
    for conv in [ConvAlgorithm::Direct, ConvAlgorithm::Gemm] {
        let (lg, gg) = losses_and_gradient(&gpu, conv).await;
        for (a, b) in lc.iter().zip(&lg) {
            assert!((a - b).abs() <= 1e-3 * a.abs().max(1e-6), "loss {a} (cpu) vs {b} (webgpu, {conv:?})");
        }
        let scale = gc.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let worst = gc.iter().zip(&gg).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(scale > 0.0 && worst <= 1e-3 * scale, "image gradient ({conv:?}) differs by {worst} (scale {scale})");
    }

    // The rest with the route SwiftShader gets (CI's WebGPU), the faster one there.
    let conv = ConvAlgorithm::for_adapter("swiftshader");
    let model = Vgg::from_bytes(TEACHER.to_vec(), &gpu).unwrap().with_conv(conv);
    let mut s = Stylizer::new(Config::default(), &pattern(24, 16, 4), &pattern(24, 16, 5), model, gpu.clone()).unwrap();
    let records = s.step(8).await.unwrap();
    assert!(records[7].total < records[0].total, "{} → {}", records[0].total, records[7].total);

    // Tiled (src/tiled.rs: what a large image or a small buffer limit gets) on WebGPU: the same
    // losses and image gradient as the whole image, here with 2×2 tiles at 48×40.
    let model = Vgg::from_bytes(TEACHER.to_vec(), &gpu).unwrap().with_conv(conv);
    let (w, h) = (48, 40);
    let (content, style, x) = (to_tensor(&pattern(w, h, 6), &gpu), to_tensor(&pattern(w, h, 7), &gpu), to_tensor(&pattern(w, h, 8), &gpu));
    let styles = vec![(style, 1.0)];
    let weights = LossWeights { content: 1e3, style: 1.0, tv: 0.1 };
    let whole = Targets::blend(&model, content.clone(), &styles, Pooling::Avg);
    let tiles = TiledTargets::blend(&model, &content, &styles, Pooling::Avg, 32);
    assert_eq!(tiles.tiles.len(), 4);
    let (pa, ga) = loss_and_gradient(&model, &whole, x.clone(), weights, Pooling::Avg).unwrap();
    let (pb, gb) = tiled::loss_and_gradient(&model, &tiles, x, weights, Pooling::Avg).unwrap();
    let (la, lb) = (read(pa.stacked()).await.unwrap(), read(pb.stacked()).await.unwrap());
    for (a, b) in la.iter().zip(&lb) {
        assert!((a - b).abs() <= 1e-3 * a.abs().max(1e-6), "loss {a} (whole) vs {b} (tiled)");
    }
    let (ga, gb) = (read(ga).await.unwrap(), read(gb).await.unwrap());
    let scale = ga.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = ga.iter().zip(&gb).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(scale > 0.0 && worst <= 1e-3 * scale, "tiled image gradient differs by {worst} (scale {scale})");
}

const DISTILLED: &[u8] = include_bytes!("../models/vgg16-distilled.bpk");

/// The page's engine paints the teacher's ladder (multiscale::TEACHER_LADDER) when the teacher
/// is asked for coarse to fine with the default preset: the distilled model the smaller size,
/// the teacher the last; not without the distilled model loaded, not with settings changed by
/// hand.
#[wasm_bindgen_test]
async fn the_engine_paints_the_teachers_ladder_where_it_applies() {
    use impasto::web::Engine;
    let message = |e: impasto::web::WebError| e.message();
    let png = |seed| impasto::image_io::encode_png(&pattern(48, 32, seed)).unwrap();
    let options = |preset: &str| {
        js_sys::JSON::parse(&format!(
            r#"{{"model": "teacher", "preset": {preset}, "size": 48, "coarseToFine": true, "smallestStage": 24, "iterations": 2}}"#
        ))
        .unwrap()
    };
    let mut engine = Engine::create(false).await;
    assert_eq!(engine.backend(), "cpu");
    engine.load_model("teacher", TEACHER.to_vec()).map_err(message).unwrap();
    let err = engine.stylizer(&png(1), &png(2), options(r#""balanced""#)).map(|_| ()).map_err(message).unwrap_err();
    assert_eq!(err, "the distilled model is not loaded");
    engine.load_model("distilled", DISTILLED.to_vec()).map_err(message).unwrap();
    assert!(engine.has_model("teacher") && engine.has_model("distilled") && !engine.has_model("student"));
    // A record's terms, by name (loss::Terms).
    let style_of = |record: wasm_bindgen::JsValue| {
        let terms = js_sys::Reflect::get(&record, &"terms".into()).unwrap();
        js_sys::Reflect::get(&terms, &"style".into()).unwrap().as_f64().unwrap()
    };
    let mut ladder = engine.stylizer(&png(1), &png(2), options(r#""balanced""#)).map_err(message).unwrap();
    assert_eq!(ladder.sides(), vec![24, 48]);
    assert_eq!(ladder.stage_models(), vec!["distilled".to_string(), "teacher".to_string()]);
    let mut styles = Vec::new();
    for _ in 0..4 {
        styles.push(style_of(ladder.step().await.map_err(message).unwrap()));
    }
    assert_eq!(ladder.iteration(), 4);
    // Settings changed by hand (no preset), or CS20's preset: the teacher paints every size (and
    // judges the first stage's start image otherwise than the distilled model did).
    for preset in ["null", r#""cs20""#] {
        let mut plain = engine.stylizer(&png(1), &png(2), options(preset)).map_err(message).unwrap();
        assert_eq!(plain.stage_models(), vec!["teacher".to_string(); 2], "{preset}");
        let first = style_of(plain.step().await.map_err(message).unwrap());
        assert!((first - styles[0]).abs() > 1e-3 * first.abs(), "{first} vs {}", styles[0]);
    }
    // Resumed at the last size (after a lost GPU), the run is still the ladder's finish.
    let kept = pattern(48, 32, 9).to_rgba8();
    let at = js_sys::JSON::parse(r#"{"width": 48, "height": 32, "done": 2}"#).unwrap();
    let style = js_sys::Array::of1(&js_sys::Uint8Array::from(&png(2)[..]));
    let resumed = engine.stylizer_resume(&png(1), style, vec![1.0], options(r#""balanced""#), &kept, at).map_err(message).unwrap();
    assert_eq!((resumed.sides(), resumed.stage_models()), (vec![48], vec!["teacher".to_string()]));
    // Going on from a painting a time limit made smaller ("Go on to 96 px"): the larger sizes of
    // the ladder asked for, from the painting upsampled, the last still the teacher's finish.
    let larger = |size: u32, at: &str| {
        let options = js_sys::JSON::parse(&format!(
            r#"{{"model": "teacher", "preset": "balanced", "size": {size}, "coarseToFine": true, "smallestStage": 24, "iterations": 2, "timeBudget": null}}"#
        ))
        .unwrap();
        let style = js_sys::Array::of1(&js_sys::Uint8Array::from(&png(2)[..]));
        engine.stylizer_resume(&png(1), style, vec![1.0], options, &kept, js_sys::JSON::parse(at).unwrap()).map_err(message)
    };
    let onward = larger(96, r#"{"width": 48, "height": 32, "done": 7, "onward": true}"#).unwrap();
    assert_eq!((onward.sides(), onward.stage_models(), (onward.width(), onward.height())), (vec![96], vec!["teacher".to_string()], (96, 64)));
    assert_eq!(larger(48, r#"{"width": 48, "height": 32, "done": 7, "onward": true}"#).map(|_| ()).unwrap_err(), "invalid setting: the painting is already 48 px, as large as the 48 px asked for");
    assert_eq!(message(engine.load_model("student", DISTILLED.to_vec()).unwrap_err()), "invalid setting: unknown model \"student\" (distilled or teacher)");
}

/// The default model ("auto") starts before the teacher's weights are here: the smaller size is
/// painted with the distilled model, the last waits for the teacher (`awaitsModel`) and, given
/// it (`finishWith`), is painted by it — or, told it will not come (`finishWithout`), by the
/// distilled model. Resumed at the last size without the teacher, that size is painted without it.
#[wasm_bindgen_test]
async fn an_automatic_run_waits_for_the_teacher_at_its_last_size() {
    use impasto::web::Engine;
    let message = |e: impasto::web::WebError| e.message();
    let png = |seed| impasto::image_io::encode_png(&pattern(48, 32, seed)).unwrap();
    // The page's defaults: model auto, the default preset, coarse to fine.
    let options = || {
        let o = impasto::web::default_options().map_err(message).unwrap();
        for (k, v) in [("size", 48.0), ("smallestStage", 24.0), ("iterations", 2.0)] {
            js_sys::Reflect::set(&o, &k.into(), &v.into()).unwrap();
        }
        o
    };
    let model_of = |o: &wasm_bindgen::JsValue| js_sys::Reflect::get(o, &"model".into()).unwrap().as_string();
    assert_eq!(model_of(&options()).as_deref(), Some("auto"));
    let mut engine = Engine::create(false).await;
    engine.load_model("distilled", DISTILLED.to_vec()).map_err(message).unwrap();
    let two = |run: &impasto::web::WebStylizer| run.stage_models();
    let mut run = engine.stylizer(&png(1), &png(2), options()).map_err(message).unwrap();
    assert_eq!((run.sides(), two(&run)), (vec![24, 48], vec!["distilled".to_string(), "teacher".to_string()]));
    assert_eq!(run.pending_model().as_deref(), Some("teacher"));
    for _ in 0..2 {
        assert!(!run.awaits_model());
        run.step().await.map_err(message).unwrap();
    }
    assert!(run.awaits_model(), "the last size waits for the teacher");
    assert!(engine.finish_with(&mut run).is_err(), "not loaded yet");
    let mut without = engine.stylizer(&png(1), &png(2), options()).map_err(message).unwrap();
    engine.load_model("teacher", TEACHER.to_vec()).map_err(message).unwrap();
    engine.finish_with(&mut run).map_err(message).unwrap();
    assert!(run.pending_model().is_none() && !run.awaits_model());
    for _ in 0..2 {
        run.step().await.map_err(message).unwrap();
    }
    assert_eq!((run.iteration(), run.width()), (4, 48));
    // The teacher will not come: the distilled model paints the last size too.
    without.finish_without();
    assert_eq!(two(&without), vec!["distilled".to_string(); 2]);
    for _ in 0..4 {
        without.step().await.map_err(message).unwrap();
    }
    assert_eq!((without.iteration(), without.width()), (4, 48));
    // With the teacher loaded from the start, nothing waits.
    let ready = engine.stylizer(&png(1), &png(2), options()).map_err(message).unwrap();
    assert!(ready.pending_model().is_none() && two(&ready) == vec!["distilled".to_string(), "teacher".to_string()]);
    // Resumed at the last size on an engine without the teacher: painted without the finish.
    let mut fresh = Engine::create(false).await;
    fresh.load_model("distilled", DISTILLED.to_vec()).map_err(message).unwrap();
    let kept = pattern(48, 32, 9).to_rgba8();
    let at = js_sys::JSON::parse(r#"{"width": 48, "height": 32, "done": 2}"#).unwrap();
    let style = js_sys::Array::of1(&js_sys::Uint8Array::from(&png(2)[..]));
    let resumed = fresh.stylizer_resume(&png(1), style, vec![1.0], options(), &kept, at).map_err(message).unwrap();
    assert_eq!((resumed.sides(), resumed.stage_models(), resumed.pending_model()), (vec![48], vec!["distilled".to_string()], None));
}

/// A failure reaches the page as data: a JS `Error` with the core's sentence, its `kind`, and the
/// `input` it is about (the page's name for the drop target), or null for a setting.
#[wasm_bindgen_test]
async fn failures_reach_the_page_as_kind_input_and_message() {
    use impasto::web::Engine;
    use wasm_bindgen::{JsCast, JsValue};
    let mut engine = Engine::create(false).await;
    engine.load_model("distilled", DISTILLED.to_vec()).unwrap();
    let png = impasto::image_io::encode_png(&pattern(48, 32, 1)).unwrap();
    let options = |size: u32| {
        js_sys::JSON::parse(&format!(r#"{{"model": "distilled", "preset": null, "size": {size}, "iterations": 2}}"#)).unwrap()
    };
    let thrown = |e: impasto::web::WebError| {
        let js = JsValue::from(e);
        let get = |k: &str| js_sys::Reflect::get(&js, &k.into()).unwrap().as_string();
        let message = js.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message()));
        (get("kind"), get("input"), message)
    };
    let styles = |second: &[u8]| js_sys::Array::of2(&js_sys::Uint8Array::from(&png[..]), &js_sys::Uint8Array::from(second));
    let pdf = engine.stylizer(&png, b"%PDF-1.4 not an image", options(48)).map(|_| ()).unwrap_err();
    let (kind, input, message) = thrown(pdf);
    assert_eq!((kind.as_deref(), input.as_deref()), (Some("unsupported-format"), Some("style")));
    assert!(message.unwrap().starts_with("the style image is not a supported image"));
    let empty = engine.stylizer_blend(&png, styles(b""), vec![1.0, 1.0], options(48)).map(|_| ()).unwrap_err();
    let (kind, input, _) = thrown(empty);
    assert_eq!((kind.as_deref(), input.as_deref()), (Some("empty-input"), Some("style2")));
    // 48×32 painted 16 px wide is 16×11: the photo at that size, too small for VGG's pooling.
    let small = engine.stylizer(&png, &png, options(16)).map(|_| ()).unwrap_err();
    let (kind, input, message) = thrown(small);
    assert_eq!((kind.as_deref(), input.as_deref()), (Some("too-small"), Some("content")));
    assert!(message.unwrap().starts_with("the content image at this size is too small"));
    let setting = engine.stylizer(&png, &png, options(8)).map(|_| ()).unwrap_err();
    assert_eq!(thrown(setting).0.as_deref(), Some("invalid-setting"));
    assert_eq!(thrown(engine.stylizer(&png, &png, options(8)).map(|_| ()).unwrap_err()).1, None);
}

/// A film shot in the page: frames in as RGBA, each a run stepped to its end; the next frame's
/// loss has the temporal term, and a shot gone on with after a kept frame (a reload) paints that
/// next frame exactly as the shot that painted it. Bad frames and settings are refused as data.
#[wasm_bindgen_test]
async fn a_shot_paints_each_frame_from_the_last_painting_and_goes_on_after_a_kept_one() {
    use impasto::web::Engine;
    let message = |e: impasto::web::WebError| e.message();
    let mut engine = Engine::create(false).await;
    engine.load_model("distilled", DISTILLED.to_vec()).unwrap();
    let frames: Vec<Vec<u8>> = (0..2).map(|k| pattern(48, 32, 10 + k).to_rgba8()).collect();
    let style = || js_sys::Array::of1(&js_sys::Uint8Array::from(&impasto::image_io::encode_png(&pattern(48, 32, 2)).unwrap()[..]));
    let options = |extra: &str| {
        js_sys::JSON::parse(&format!(r#"{{"model": "distilled", "size": 40, "iterations": 3{extra}}}"#)).unwrap()
    };
    let get = |v: &wasm_bindgen::JsValue, k: &str| js_sys::Reflect::get(v, &k.into()).unwrap();
    let mut shot = engine.shot(48, 32, &frames[0], style(), vec![1.0], options(""), None).map_err(message).unwrap();
    assert_eq!((shot.width(), shot.height(), shot.without_finish()), (40, 27, false));
    let mut first = shot.frame(frames[0].clone()).await.map_err(message).unwrap();
    loop {
        let record = first.step().await.map_err(message).unwrap();
        assert!(get(&get(&record, "terms"), "temporal").is_undefined());
        if get(&record, "finished").as_bool().unwrap() {
            break;
        }
    }
    let painting = first.rgba().await.map_err(message).unwrap().to_vec();
    assert_eq!(painting.len(), 40 * 27 * 4);
    shot.painted(&painting).map_err(message).unwrap();
    let mut second = shot.frame(frames[1].clone()).await.map_err(message).unwrap();
    let record = second.step().await.map_err(message).unwrap();
    let temporal = get(&get(&record, "terms"), "temporal").as_f64();
    assert!(temporal.is_some_and(|t| t.is_finite() && t >= 0.0), "{temporal:?}");
    // After a reload: the last painted frame and its painting, kept by the page.
    let mut again = engine.shot(48, 32, &frames[0], style(), vec![1.0], options(""), None).map_err(message).unwrap();
    again.go_on_after(&frames[0], &painting).map_err(message).unwrap();
    let mut resumed = again.frame(frames[1].clone()).await.map_err(message).unwrap();
    let same = resumed.step().await.map_err(message).unwrap();
    assert_eq!(get(&same, "total").as_f64(), get(&record, "total").as_f64());
    // A frame of another size, a painting handed back with no frame begun, original colours.
    let other = pattern(32, 32, 3).to_rgba8();
    assert!(message(again.frame(other).await.map(|_| ()).unwrap_err()).contains("do not make a 48x32 RGBA image"));
    let mut fresh = engine.shot(48, 32, &frames[0], style(), vec![1.0], options(""), None).map_err(message).unwrap();
    assert_eq!(message(fresh.painted(&painting).unwrap_err()), "no frame of this shot is being painted");
    let colours = engine.shot(48, 32, &frames[0], style(), vec![1.0], options(r#", "originalColors": true"#), None).map(|_| ());
    assert_eq!(message(colours.unwrap_err()), "invalid setting: original colours are not available for a film shot yet");
    let huge = engine.shot(2048, 32, &[0; 2048 * 32 * 4], style(), vec![1.0], options(""), None).map(|_| ());
    assert_eq!(message(huge.unwrap_err()), "the frames are 2048x32; a shot's frames are at most 1024 px long");
}
