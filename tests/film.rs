#![cfg(not(target_family = "wasm"))]
//! `impasto film` end to end: a 4-frame shot killed in the middle and started again (the frames
//! already written stay as they were, the rest get painted), a video in and out through ffmpeg,
//! and one clear line for each bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("impasto-film-{}", std::process::id())).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn impasto() -> Command {
    common::teacher(&impasto::device::cpu());
    Command::new(env!("CARGO_BIN_EXE_impasto"))
}

/// `n` frames of a camera panning right over tubingen.jpg, `w`×`h` each.
fn pan(dir: &Path, n: usize, w: u32, h: u32) {
    let img = image::open(common::shared_image("tubingen.jpg")).unwrap().to_rgb8();
    let big = image::imageops::resize(&img, w * 2, h * 2, image::imageops::FilterType::Triangle);
    for k in 0..n {
        let frame = image::imageops::crop_imm(&big, 3 * k as u32, h / 2, w, h).to_image();
        frame.save(dir.join(format!("shot_{k:03}.png"))).unwrap();
    }
}

fn one_line_error(out: &Output, needle: &str) {
    assert!(!out.status.success(), "expected failure");
    let err = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = err.lines().filter(|l| l.starts_with("impasto: ")).collect();
    assert_eq!(ours.len(), 1, "one line, got: {err}");
    assert!(ours[0].contains(needle), "{needle:?} in {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_shot_killed_and_started_again_goes_on_where_it_was() {
    let frames = tmp("frames");
    pan(&frames, 4, 96, 64);
    let out = tmp("painted");
    let style = common::shared_image("starry_night.jpg");
    let args = ["film", s(&frames), s(&style), "-o", s(&out), "--size", "96", "--model", "distilled", "--backend", "cpu", "--quiet"];
    let painted = |k: usize| out.join(format!("shot_{k:03}.png"));

    // Killed once the second frame is written.
    let mut child = impasto().args(args).spawn().unwrap();
    let t0 = Instant::now();
    while !painted(1).exists() {
        assert!(child.try_wait().unwrap().is_none(), "the shot ended before it could be interrupted");
        assert!(t0.elapsed() < Duration::from_secs(300), "no second frame in 5 min");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done: Vec<usize> = (0..4).filter(|&k| painted(k).exists()).collect();
    assert!(done.len() < 4 && done.starts_with(&[0, 1]), "{done:?}");
    let before: Vec<Vec<u8>> = done.iter().map(|&k| std::fs::read(painted(k)).unwrap()).collect();

    // Started again: the frames already there are kept byte for byte, the rest painted.
    let r = impasto().args(&args[..args.len() - 1]).output().unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(err.contains(&format!("{} of 4 frames already painted", done.len())), "{err}");
    for (k, bytes) in done.iter().zip(&before) {
        assert_eq!(&std::fs::read(painted(*k)).unwrap(), bytes, "frame {k} was painted again");
    }
    for k in 0..4 {
        let img = image::open(painted(k)).expect("every frame painted");
        assert_eq!((img.width(), img.height()), (96, 64));
    }
    assert!(std::fs::read_dir(&out).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".part")));

    // Nothing left to paint: nothing is painted again.
    let r = impasto().args(args).output().unwrap();
    assert!(r.status.success());
    assert_eq!(std::fs::read(painted(0)).unwrap(), before[0]);
}

#[test]
fn a_video_goes_in_and_comes_out_through_ffmpeg() {
    let frames = tmp("video-frames");
    pan(&frames, 3, 64, 48);
    let dir = tmp("video");
    let clip = dir.join("clip.mp4");
    // A 3-frame clip at 12 frames a second (with no audio).
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-framerate", "12", "-pattern_type", "glob", "-i"])
        .arg(frames.join("*.png"))
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&clip)
        .status()
        .expect("ffmpeg is installed (scripts/test installs it)");
    assert!(made.success());
    let out = dir.join("painted.webm");
    let style = common::shared_image("starry_night.jpg");
    let r = impasto()
        .args(["film", s(&clip), s(&style), "-o", s(&out), "--size", "64", "--model", "distilled", "--iterations", "3", "--backend", "cpu"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(err.contains("3 frames at 12/1 frames a second"), "{err}");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames,r_frame_rate,width", "-of", "csv=p=0"])
        .arg(&out)
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&probe.stdout);
    assert_eq!(info.trim(), "64,12/1,3", "width, frame rate, frames of {}", out.display());
}

#[test]
fn bad_shots_get_one_clear_line() {
    let style = common::shared_image("starry_night.jpg");
    let film = |input: &Path, out: &Path| {
        impasto().args(["film", s(input), s(&style), "-o", s(out), "--size", "32", "--backend", "cpu", "--quiet"]).output().unwrap()
    };
    let empty = tmp("empty");
    one_line_error(&film(&empty, &tmp("out-empty")), "no PNG or JPEG frames in this folder");

    let mixed = tmp("mixed");
    pan(&mixed, 2, 64, 48);
    image::RgbImage::new(48, 48).save(mixed.join("shot_009.png")).unwrap();
    one_line_error(&film(&mixed, &tmp("out-mixed")), "every frame of a shot has one size");

    let broken = tmp("broken");
    pan(&broken, 2, 64, 48);
    std::fs::write(broken.join("shot_001.png"), b"not a png").unwrap();
    one_line_error(&film(&broken, &tmp("out-broken")), "shot_001.png");

    // A video without ffmpeg on PATH.
    let dir = tmp("no-ffmpeg");
    let clip = dir.join("clip.mp4");
    std::fs::write(&clip, b"\0\0\0\x18ftypmp42").unwrap();
    let r = impasto()
        .env("PATH", "/nonexistent")
        .args(["film", s(&clip), s(&style), "-o", s(&dir.join("out")), "--backend", "cpu"])
        .output()
        .unwrap();
    one_line_error(&r, "needs ffmpeg");

    // A text file named .mp4, with ffmpeg there.
    let fake = dir.join("fake.mp4");
    std::fs::write(&fake, "this is not a video").unwrap();
    one_line_error(&film(&fake, &dir.join("out2")), "fake.mp4");

    let r = impasto().args(["film", s(&mixed), s(&style), "-o", "out.gif", "--backend", "cpu"]).output().unwrap();
    one_line_error(&r, "a folder of frames or a video named .mp4 or .webm");

    // The input folder as the output: refused, nothing touched.
    let frames = tmp("same");
    pan(&frames, 2, 64, 48);
    one_line_error(&film(&frames, &frames), "the output must not be the input");
    assert_eq!(std::fs::read_dir(&frames).unwrap().count(), 2);

    // Two frames whose paintings would have one name.
    let twins = tmp("twins");
    pan(&twins, 2, 64, 48);
    image::open(twins.join("shot_000.png")).unwrap().save(twins.join("shot_000.jpg")).unwrap();
    one_line_error(&film(&twins, &tmp("out-twins")), "the same name");
}

/// The point of a shot: on a camera pan, frames painted with the temporal term differ from the
/// previous painted frame carried along the motion far less than frames painted on their own.
#[test]
fn a_shot_is_steadier_than_independent_frames() {
    use impasto::film::{Frame, Shot, temporal_error};
    use impasto::image_io::{Decoded, Limits};
    let dir = tmp("steadier");
    pan(&dir, 3, 64, 48);
    let frames: Vec<Decoded> = (0..3)
        .map(|k| impasto::image_io::decode(&std::fs::read(dir.join(format!("shot_{k:03}.png"))).unwrap(), "frame", Limits::default()).unwrap())
        .collect();
    let device = impasto::device::cpu();
    let style = impasto::image_io::decode(&std::fs::read(common::shared_image("starry_night.jpg")).unwrap(), "style", Limits::default()).unwrap();
    // A fixed count keeps the test short; the default stops by itself.
    let (config, stopping) = (impasto::Preset::DEFAULT.config().0, impasto::stopping::Stopping::Fixed(60));
    let mean_error = |weight: f32| {
        let shot = Shot {
            config: config.clone(),
            styles: vec![(style.clone(), 1.0)],
            style_scale: 1.0,
            sides: vec![64],
            stopping,
            model: common::distilled(),
            painter: impasto::models::ModelKind::Distilled,
            finish: None,
            device: device.clone(),
            temporal_weight: weight,
        };
        let mut painted: Vec<Frame> = Vec::new();
        for f in &frames {
            let (frame, _) = pollster::block_on(shot.paint(f.clone(), painted.last(), &mut |_| {})).unwrap();
            painted.push(frame);
        }
        let errors: Vec<f32> = painted
            .windows(2)
            .map(|p| pollster::block_on(temporal_error(&device, &p[0].content, &p[1].content, &p[0].painting, &p[1].painting)).unwrap().0)
            .collect();
        errors.iter().sum::<f32>() / errors.len() as f32
    };
    let (independent, shot) = (mean_error(0.0), mean_error(impasto::film::DEFAULT_TEMPORAL_WEIGHT));
    eprintln!("temporal error: independent frames {independent:.2}, the shot {shot:.2}");
    assert!(shot < 0.5 * independent, "{shot} vs {independent}");
}
