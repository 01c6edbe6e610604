//! The lab's command line: bench's JSON, the option errors of distill and ttq.

use std::path::PathBuf;
use std::process::{Command, Output};

#[path = "../../tests/common/mod.rs"]
mod common;

fn lab(args: &[&str]) -> Output {
    // Make sure the teacher is there before the binary looks for it.
    common::teacher(&impasto::device::cpu());
    Command::new(env!("CARGO_BIN_EXE_impasto-lab")).args(args).output().expect("the binary runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("impasto-lab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

fn one_line_error(r: &Output, needle: &str) {
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(needle), "{err}");
}

#[test]
fn option_errors_are_one_line() {
    let r = lab(&["distill", "--scale", "conv3_1=-1", "--steps", "0"]);
    one_line_error(&r, "must be positive");
    let r = lab(&["distill", "--full", "conv9_9", "--steps", "0"]);
    one_line_error(&r, "conv9_9");
    let r = lab(&["ttq", "--pairs", "a.jpg"]);
    one_line_error(&r, "CONTENT:STYLE");
    let r = lab(&["ttq", "--pairs", "a.jpg:b.jpg", "--recipes", "magic"]);
    one_line_error(&r, "ladder-mixed");
    let r = lab(&["profile", "--size", "16"]);
    one_line_error(&r, "at least 32");
    let r = lab(&["prune", "-o", "/tmp/impasto-never.bpk", "--rounds", "2"]);
    one_line_error(&r, "--self-stylized");
    let r = lab(&["prune", "-o", "/tmp/impasto-never.bpk", "--init", "models/vgg16-distilled.bpk", "--width", "conv1_2=8"]);
    one_line_error(&r, "--init keeps the student's widths");
}

#[test]
fn bench_writes_json() {
    let out = tmp("bench.json");
    let r = lab(&[
        "bench", "--sizes", "32", "--backends", "cpu", "--models", "distilled", "--convs", "auto,gemm", "--iterations", "1",
        "--out", s(&out),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    for (p, conv) in v.as_array().unwrap().iter().zip(["host", "gemm"]) {
        assert_eq!(p["backend"], "cpu");
        assert_eq!(p["model"], "distilled");
        assert_eq!(p["conv"], conv, "auto on the CPU is the CPU engine's own pass");
        assert!(p["ms_per_iteration"].as_f64().unwrap() > 0.0);
        assert!(p["peak_rss_bytes"].as_u64().unwrap() > 1 << 20, "a child process's own peak: {v}");
    }
}

#[test]
fn profile_times_every_part_of_an_iteration() {
    let out = tmp("profile.json");
    let r = lab(&["profile", "--size", "32", "--models", "distilled", "--rounds", "1", "--out", s(&out)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let parts = v.as_array().unwrap();
    let count = |part: &str| parts.iter().filter(|p| p["part"] == part).count();
    // One whole iteration; per layer of VGG16 to conv5_1 its convolutions and its ReLU; the four
    // poolings; the five style layers' Gram matrices.
    assert_eq!((count("iteration"), count("conv"), count("relu"), count("pool"), count("gram")), (1, 11, 11, 4, 5), "{v}");
    let grams: Vec<&str> = parts.iter().filter(|p| p["part"] == "gram").map(|p| p["layer"].as_str().unwrap()).collect();
    assert_eq!(grams, ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]);
    assert!(parts.iter().all(|p| p["model"] == "distilled" && p["size"] == 32 && p["backend"] == "cpu"));
    // The iteration by the CPU's route, the parts through burn's autodiff (its own convolution).
    assert!(parts.iter().all(|p| p["conv"] == if p["part"] == "iteration" { "host" } else { "direct" }), "{v}");
    // The harness's own cost is taken off a part, never below zero; the convolutions cost time.
    let ms = |p: &serde_json::Value| p["ms"].as_f64().unwrap();
    assert!(parts.iter().all(|p| ms(p) >= 0.0), "{v}");
    assert!(ms(&parts[0]) > 0.0 && parts.iter().filter(|p| p["part"] == "conv").map(ms).sum::<f64>() > 0.0, "{v}");
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("the rest"), "the summary line splits the iteration: {err}");
}
