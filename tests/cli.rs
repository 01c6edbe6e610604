#![cfg(not(target_family = "wasm"))]
//! The `impasto` binary end to end: a real stylization of two sample images at a tiny size, the
//! judge, the model list, and one-line errors with a non-zero exit.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn impasto(args: &[&str]) -> Output {
    // Make sure the teacher is there before the binary looks for it.
    common::teacher(&impasto::device::cpu());
    Command::new(env!("CARGO_BIN_EXE_impasto")).args(args).output().expect("the binary runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("impasto-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn one_line_error(out: &Output, needle: &str) {
    assert!(!out.status.success(), "expected failure");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, got: {err}");
    assert!(lines[0].starts_with("impasto: ") && lines[0].contains(needle), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn stylizes_and_judges_two_sample_images() {
    let content = common::shared_image("tubingen.jpg");
    let style = common::shared_image("starry_night.jpg");
    let out = tmp("tubingen-starry.png");
    let r = impasto(&[
        "stylize", s(&content), s(&style), "-o", s(&out), "--size", "48", "--iterations", "6",
        "--backend", "cpu", "--save-every", "3", "--quiet",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let img = image::open(&out).expect("a valid PNG");
    assert_eq!((img.width(), img.height()), (48, 36), "tubingen is 4:3");
    assert!(tmp("tubingen-starry_0003.png").exists(), "--save-every 3 writes iteration 3");

    // A size asked for is painted as the default one is: the teacher coarse to fine, the
    // distilled model painting the smaller size, the teacher the last by L-BFGS
    // (multiscale::TEACHER_LADDER); with a setting of the picture named (settings::PictureSetting),
    // even at the preset's own value, the teacher paints both.
    let ladder = tmp("tubingen-starry-ladder.png");
    let args = ["stylize", s(&content), s(&style), "-o", s(&ladder), "--size", "256", "--iterations", "2", "--backend", "cpu", "--model", "teacher"];
    let r = impasto(&args);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(err.contains("the smaller sizes with the distilled model, the last with the teacher by lbfgs"), "{err}");
    assert!(err.contains("scale 1/2 128x96") && err.contains("scale 2/2 256x192"), "{err}");
    let img = image::open(&ladder).expect("a valid PNG");
    assert_eq!((img.width(), img.height()), (256, 192));
    for plain in [&["--optimizer", "adam"][..], &["--preset", "cs20"], &["--learning-rate", "1.5"], &["--pooling", "avg"]] {
        let r = impasto(&[&args[..], plain].concat());
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(r.status.success() && !err.contains("the smaller sizes with"), "{plain:?}: {err}");
    }
    // One size where asked (--one-size; CS20 paints one size): no smaller stage. --max-size is
    // coarse to fine whatever the preset.
    for (extra, ladder) in [(&["--one-size"][..], false), (&["--preset", "cs20"], false), (&["--preset", "cs20", "--max-size", "256"], true)] {
        let mut a = args.to_vec();
        if extra.contains(&"--max-size") {
            a.drain(5..7);
        }
        let r = impasto(&[&a[..], extra].concat());
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(r.status.success() && err.contains("256x192") && err.contains("scale 1/2 128x96") == ladder, "{extra:?}: {err}");
    }
    // The default model (auto) paints the same ladder; without the teacher installed, the
    // distilled model paints every size and says so; the teacher asked for by name is an error.
    let auto = &args[..args.len() - 2];
    let r = impasto(auto);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success() && err.contains("the last with the teacher by lbfgs"), "{err}");
    let only_distilled = tmp("only-distilled");
    std::fs::create_dir_all(&only_distilled).unwrap();
    let file = impasto::models::ModelKind::Distilled.file_name();
    std::fs::copy(impasto::models::weights_path(impasto::models::ModelKind::Distilled), only_distilled.join(file)).unwrap();
    let without = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_impasto")).env("IMPASTO_MODELS", &only_distilled).args([auto, extra].concat()).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, err) = without(&[]);
    assert!(ok && err.contains("the distilled model paints every size") && err.contains("scale 2/2 256x192"), "{err}");
    assert!(!err.contains("the last with the teacher"), "{err}");
    let (ok, err) = without(&["--model", "teacher"]);
    assert!(!ok && err.contains("impasto fetch-teacher"), "{err}");

    let r = impasto(&["eval", s(&content), s(&style), s(&out), "--backend", "cpu"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).expect("JSON");
    let (c, st, t) = (v["content"].as_f64().unwrap(), v["style"].as_f64().unwrap(), v["total"].as_f64().unwrap());
    assert!(c > 0.0 && st > 0.0 && ((0.01 * c + st) - t).abs() <= 1e-3 * t, "{v}");

    // The judge does not depend on how the output was made: the content image judged as the
    // output has zero content loss.
    let same = tmp("content-as-output.png");
    let small = impasto::image_io::decode(&std::fs::read(&content).unwrap(), "c", Default::default())
        .unwrap()
        .to_working(48, "c")
        .unwrap();
    std::fs::write(&same, impasto::image_io::encode_png(&small).unwrap()).unwrap();
    let r = impasto(&["eval", s(&same), s(&style), s(&same), "--backend", "cpu"]);
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).expect("JSON");
    assert_eq!(v["content"].as_f64().unwrap(), 0.0, "{v}");
}

#[test]
fn models_lists_both_models() {
    let r = impasto(&["models"]);
    assert!(r.status.success());
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).expect("JSON");
    let teacher = v.as_array().unwrap().iter().find(|m| m["name"] == "teacher").expect("teacher listed");
    assert_eq!(teacher["parameters"], 9_995_072);
    assert_eq!(teacher["gmacs_512"], 75.35);
    assert!(teacher["weight_file_bytes"].as_u64().unwrap() > 19_000_000);
    let distilled = v.as_array().unwrap().iter().find(|m| m["name"] == "distilled").expect("distilled listed");
    assert_eq!(distilled["available"], true);
    assert!(distilled["gmacs_512"].as_f64().unwrap() <= 12.5, "{distilled}");
    assert!(distilled["weight_file_bytes"].as_u64().unwrap() <= 3_000_000, "{distilled}");
}

#[test]
fn errors_are_one_line() {
    let style = common::shared_image("starry_night.jpg");
    let out = tmp("never.png");
    let r = impasto(&["stylize", "/no/such/file.jpg", s(&style), "-o", s(&out)]);
    one_line_error(&r, "/no/such/file.jpg");

    let text = tmp("notes.jpg");
    std::fs::write(&text, "just some text, not a picture").unwrap();
    let r = impasto(&["stylize", s(&text), s(&style), "-o", s(&out)]);
    one_line_error(&r, "not a supported image");

    let r = impasto(&["stylize", s(&style), s(&style), "-o", "/no/such/dir/out.png", "--backend", "cpu"]);
    one_line_error(&r, "/no/such/dir/out.png");

    let r = impasto(&["stylize", s(&style), s(&style), "-o", s(&out), "--size", "8"]);
    one_line_error(&r, "--size");

    // A models directory without the distilled weights (a damaged checkout).
    let empty = tmp("no-models");
    std::fs::create_dir_all(&empty).unwrap();
    let r = Command::new(env!("CARGO_BIN_EXE_impasto"))
        .env("IMPASTO_MODELS", &empty)
        .args(["stylize", s(&style), s(&style), "-o", s(&out), "--size", "32", "--backend", "cpu"])
        .output()
        .unwrap();
    one_line_error(&r, "distilled model's weights");

    let r = impasto(&["stylize", s(&style), s(&style), "-o", s(&out), "--learning-rate", "-1", "--backend", "cpu"]);
    one_line_error(&r, "learning rate");

    let r = impasto(&["stylize", s(&style), "-o", s(&out)]);
    one_line_error(&r, "STYLE");

    let r = impasto(&["stylize", s(&style), s(&style), "-o", s(&out), "--iterations", "many"]);
    one_line_error(&r, "many");

    let r = impasto(&["stylize", s(&style), s(&style), "-o", s(&out), "--time-budget", "soon"]);
    one_line_error(&r, "\"soon\" is not a duration");
    let r = impasto(&["stylize", s(&style), s(&style), "-o", s(&out), "--time-budget", "2s"]);
    one_line_error(&r, "the time budget must be between 10 s");

    let r = impasto(&["stylize", s(&style), s(&style), "-o", s(&out), "--tile", "8", "--backend", "cpu"]);
    one_line_error(&r, "tiles must be at least 16 px");

    // `--backend wgpu` where there is no such GPU: CUBECL_WGPU_DEFAULT_DEVICE asks burn's wgpu
    // runtime for a tenth discrete GPU, which no machine here has. Graphics drivers may print
    // their own lines while probing; ours is one.
    let r = Command::new(env!("CARGO_BIN_EXE_impasto"))
        .env("CUBECL_WGPU_DEFAULT_DEVICE", "DiscreteGpu(9)")
        .args(["stylize", s(&style), s(&style), "-o", s(&out), "--size", "32", "--backend", "wgpu"])
        .output()
        .unwrap();
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    let ours: Vec<&str> = err.lines().filter(|l| l.starts_with("impasto: ")).collect();
    assert_eq!(ours.len(), 1, "{err}");
    assert!(ours[0].contains("no usable GPU adapter for wgpu") && !ours[0].contains('\n'), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists(), "nothing written");
}

/// `--backend auto` paints on wgpu only where its adapter is a GPU: a software emulation
/// (lavapipe on CI) is slower than the CPU engine, so auto says so in a line and takes the CPU;
/// where no adapter initialises at all it takes the CPU without a word.
#[test]
fn auto_backend_skips_a_software_adapter() {
    let (_, kind, why) = impasto::device::auto();
    match impasto::device::wgpu_adapter() {
        Ok((name, true)) => {
            assert_eq!(kind, impasto::device::BackendKind::Cpu);
            assert!(why.as_deref().is_some_and(|w| w.contains(&name) && w.contains("software")), "{why:?}");
        }
        Ok((_, false)) => assert!(kind == impasto::device::BackendKind::Wgpu && why.is_none(), "{why:?}"),
        Err(_) => assert!(kind == impasto::device::BackendKind::Cpu && why.is_none(), "{why:?}"),
    }

    let style = common::shared_image("starry_night.jpg");
    let out = tmp("auto.png");
    let args = ["stylize", s(&style), s(&style), "-o", s(&out), "--size", "32", "--iterations", "1", "--backend", "auto", "--quiet"];
    let r = impasto(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let err = String::from_utf8_lossy(&r.stderr);
    let said = err.lines().any(|l| l.starts_with("impasto: painting on the CPU: ") && l.contains("software emulation"));
    assert_eq!(said, why.is_some(), "{err}");
    assert!(out.exists());

    // No adapter at all (a tenth discrete GPU, as above): the CPU, silently.
    std::fs::remove_file(&out).unwrap();
    let r = Command::new(env!("CARGO_BIN_EXE_impasto")).env("CUBECL_WGPU_DEFAULT_DEVICE", "DiscreteGpu(9)").args(args).output().unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(!err.lines().any(|l| l.starts_with("impasto: ")), "{err}");
    assert!(out.exists());
}

/// `--conv gemm` gives the same picture as the direct convolution.
#[test]
fn both_convolution_routes_write_the_same_picture() {
    let content = common::shared_image("tubingen.jpg");
    let style = common::shared_image("starry_night.jpg");
    let (direct, gemm) = (tmp("direct.png"), tmp("gemm.png"));
    for (out, conv) in [(&direct, "direct"), (&gemm, "gemm")] {
        let args = ["stylize", s(&content), s(&style), "-o", s(out), "--size", "64", "--iterations", "3", "--backend", "cpu", "--quiet", "--conv", conv];
        let r = impasto(&args);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    }
    let (a, b) = (image::open(&direct).unwrap().to_rgb8(), image::open(&gemm).unwrap().to_rgb8());
    let worst = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
    assert!(worst <= 1, "8-bit pixels differ by up to {worst}");
    let r = impasto(&["stylize", s(&content), s(&style), "-o", s(&gemm), "--conv", "winograd"]);
    assert!(!r.status.success());
}

/// `--tile` gives the same picture as the whole image (tiles are exact, src/tiled.rs).
#[test]
fn tiled_stylize_writes_the_same_picture() {
    let content = common::shared_image("tubingen.jpg");
    let style = common::shared_image("starry_night.jpg");
    let (whole, tiled) = (tmp("whole.png"), tmp("tiled.png"));
    for (out, extra) in [(&whole, vec![]), (&tiled, vec!["--tile", "32"])] {
        let mut args = vec!["stylize", s(&content), s(&style), "-o", s(out), "--size", "96", "--iterations", "3", "--backend", "cpu", "--quiet"];
        args.extend(extra);
        let r = impasto(&args);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    }
    let (a, b) = (image::open(&whole).unwrap().to_rgb8(), image::open(&tiled).unwrap().to_rgb8());
    assert_eq!(a.dimensions(), (96, 72));
    let worst = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
    assert!(worst <= 1, "8-bit pixels differ by up to {worst}");
}
