//! `impasto film`: a shot painted frame by frame ([`crate::film`]), from a folder of frames or a
//! video (through ffmpeg) into a folder of frames or a video. Each painted frame is written as it
//! is finished; started again with the same arguments, the shot goes on at the first frame not yet
//! painted, so nothing already painted is lost or redone.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{FilmArgs, Settings, decode_file, pick_device, settings, write_png};
use crate::error::{Error, Result};
use crate::film::{Frame, Shot};
use crate::multiscale::ScaleRecord;
use crate::image_io::{self, Image};

/// The frame rate of a video made from a folder of frames (a folder has none of its own).
const FOLDER_FPS: &str = "24";

/// The video containers the CLI writes, by extension, with their video and audio encoders.
const VIDEO_FORMATS: [(&str, &str, &str); 2] = [("mp4", "libx264", "aac"), ("webm", "libvpx-vp9", "libopus")];

fn is_video_name(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    VIDEO_FORMATS.iter().any(|(e, _, _)| ext.as_deref() == Some(e))
}

fn tool_missing(tool: &str, why: &str) -> Error {
    Error::Shot(format!(
        "{why} needs {tool} on PATH (not found); or give a folder of frames (ffmpeg -i clip.mp4 frames/%05d.png)"
    ))
}

/// Run an ffmpeg tool; its own message where it fails.
fn run_tool(tool: &str, args: &[&std::ffi::OsStr], what: &str) -> Result<String> {
    let out = Command::new(tool).args(args).output().map_err(|_| tool_missing(tool, what))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        return Err(Error::Shot(format!("{tool} failed on {what}: {last}")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Where a shot's frames come from and where its paintings go.
struct Layout {
    /// The content frames, in order.
    frames: Vec<PathBuf>,
    /// Where each painted frame is written (as many as `frames`).
    painted: Vec<PathBuf>,
    /// The video to make from the painted frames at the end, at this frame rate, with the audio
    /// of this source (a video input), where the output is a video.
    video: Option<(PathBuf, String, Option<PathBuf>)>,
}

impl Layout {
    fn new(input: &Path, output: &Path) -> Result<Layout> {
        let video_out = is_video_name(output);
        let same = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y);
        if same(input, output) {
            return Err(Error::Shot(format!("{}: the output must not be the input", output.display())));
        }
        if !video_out && output.extension().is_some() && !output.is_dir() {
            return Err(Error::Shot(format!(
                "{}: the output is a folder of frames or a video named .mp4 or .webm",
                output.display()
            )));
        }
        // A video's work (its frames, extracted; the painted frames of a video output) lives beside
        // the output, so that a run started again finds it.
        let work = if video_out { output.with_extension(format!("{}.frames", ext(output))) } else { output.to_path_buf() };
        let (frames, fps, audio) = if input.is_dir() {
            let frames = image_io::frame_files(input)?;
            if frames.is_empty() {
                return Err(Error::Shot(format!("{}: no PNG or JPEG frames in this folder", input.display())));
            }
            (frames, FOLDER_FPS.to_string(), None)
        } else if input.is_file() {
            let source = work.join(".source");
            let done = source.join(".complete");
            if !done.exists() {
                let what = format!("the video {}", input.display());
                std::fs::create_dir_all(&source).map_err(|e| Error::io(&source, e))?;
                run_tool(
                    "ffmpeg",
                    &["-v", "error", "-y", "-i"].map(std::ffi::OsStr::new).into_iter().chain([input.as_os_str()]).chain(
                        ["-map", "0:v:0", "-vsync", "passthrough"].map(std::ffi::OsStr::new),
                    ).chain([source.join("%05d.png").as_os_str()]).collect::<Vec<_>>(),
                    &what,
                )?;
                std::fs::write(&done, b"").map_err(|e| Error::io(&done, e))?;
            }
            let frames = image_io::frame_files(&source)?;
            if frames.is_empty() {
                return Err(Error::Shot(format!("{}: the video has no frames", input.display())));
            }
            (frames, frame_rate(input)?, Some(input.to_path_buf()))
        } else {
            return Err(Error::io(input, std::io::Error::from(std::io::ErrorKind::NotFound)));
        };
        let painted_dir = if video_out { work.join("painted") } else { work.clone() };
        std::fs::create_dir_all(&painted_dir).map_err(|e| Error::io(&painted_dir, e))?;
        // A frame being written when the last run was killed.
        for entry in std::fs::read_dir(&painted_dir).map_err(|e| Error::io(&painted_dir, e))?.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".png.part") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let painted: Vec<PathBuf> = frames
            .iter()
            .enumerate()
            .map(|(k, f)| match video_out || audio.is_some() {
                // Numbered where a video is made or came in; named as the input's otherwise.
                true => painted_dir.join(format!("{:05}.png", k + 1)),
                false => painted_dir.join(Path::new(f.file_name().unwrap_or_default()).with_extension("png")),
            })
            .collect();
        let mut names = std::collections::HashSet::new();
        for (frame, out) in frames.iter().zip(&painted) {
            if !names.insert(out.to_string_lossy().to_lowercase()) {
                return Err(Error::Shot(format!(
                    "{}: another frame of the folder has the same name; each frame needs a name of its own",
                    frame.display()
                )));
            }
        }
        let video = video_out.then(|| (output.to_path_buf(), fps, audio));
        Ok(Layout { frames, painted, video })
    }
}

fn ext(path: &Path) -> String {
    path.extension().and_then(|e| e.to_str()).unwrap_or("").to_string()
}

/// A video's frame rate as ffprobe gives it (`30000/1001`).
fn frame_rate(video: &Path) -> Result<String> {
    let out = run_tool(
        "ffprobe",
        &["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=avg_frame_rate", "-of", "default=nw=1:nk=1"]
            .map(std::ffi::OsStr::new)
            .into_iter()
            .chain([video.as_os_str()])
            .collect::<Vec<_>>(),
        &format!("the video {}", video.display()),
    )?;
    let rate = out.trim().to_string();
    if rate.is_empty() || rate.starts_with("0/") {
        return Err(Error::Shot(format!("{}: no video stream", video.display())));
    }
    Ok(rate)
}

/// The painted frames as a video (`video`, at `fps`, with `audio`'s sound where it has some).
fn make_video(painted: &Path, video: &Path, fps: &str, audio: Option<&Path>) -> Result<()> {
    let (_, vcodec, acodec) = VIDEO_FORMATS.iter().find(|(e, _, _)| ext(video).eq_ignore_ascii_case(e)).copied().unwrap_or(VIDEO_FORMATS[0]);
    let os = std::ffi::OsStr::new;
    let pattern = painted.join("%05d.png");
    let mut args: Vec<&std::ffi::OsStr> = vec![os("-v"), os("error"), os("-y"), os("-framerate"), os(fps), os("-i"), pattern.as_os_str()];
    if let Some(a) = audio {
        args.extend([os("-i"), a.as_os_str(), os("-map"), os("0:v:0"), os("-map"), os("1:a:0?"), os("-c:a"), os(acodec), os("-shortest")]);
    }
    // Even sides: what the usual 4:2:0 encoders require.
    args.extend([os("-vf"), os("pad=ceil(iw/2)*2:ceil(ih/2)*2"), os("-c:v"), os(vcodec), os("-pix_fmt"), os("yuv420p"), video.as_os_str()]);
    run_tool("ffmpeg", &args, &format!("writing {}", video.display())).map(|_| ())
}

/// Write a PNG so that a kill leaves either the whole frame or none.
fn write_atomic(path: &Path, img: &Image) -> Result<()> {
    let part = path.with_extension("png.part");
    write_png(&part, img)?;
    std::fs::rename(&part, path).map_err(|e| Error::io(path, e))
}

pub(super) fn film_cmd(a: FilmArgs) -> Result<()> {
    if is_video_name(&a.input) && !a.input.exists() {
        return Err(Error::io(&a.input, std::io::Error::from(std::io::ErrorKind::NotFound)));
    }
    if is_video_name(&a.output) || a.input.is_file() {
        // Both ends of a video go through ffmpeg: say so before any work.
        run_tool("ffmpeg", &[std::ffi::OsStr::new("-version")], "a video").map_err(|_| tool_missing("ffmpeg", "a video"))?;
    }
    crate::film::check(a.run.settings.original_colors, a.temporal_weight)?;
    let layout = Layout::new(&a.input, &a.output)?;
    let n = layout.frames.len();
    // Every frame one size, checked before any painting (headers only).
    let first_size = frame_size(&layout.frames[0])?;
    for f in &layout.frames[1..] {
        let size = frame_size(f)?;
        if size != first_size {
            return Err(Error::Shot(format!(
                "{} is {}x{}, the first frame {}x{}: every frame of a shot has one size",
                f.display(),
                size.0,
                size.1,
                first_size.0,
                first_size.1
            )));
        }
    }
    let first = decode_file(&layout.frames[0], "the first frame")?;
    let settings = settings(&a.run, &first, &a.style)?;
    let start = layout.painted.iter().position(|p| !p.exists()).unwrap_or(n);
    let quiet = a.run.quiet;
    if start == n && !quiet {
        eprintln!("impasto: all {n} frames already painted");
    } else if start > 0 && !quiet {
        eprintln!("impasto: {start} of {n} frames already painted; going on at frame {}", start + 1);
    }
    if start < n {
        let (device, _) = pick_device(a.run.backend)?;
        let Settings { spec, styles } = settings;
        let mut load = |kind| super::run::load(&a.run, kind, &device);
        let (shot, without_finish) = Shot::new(&spec, styles, &first, &mut super::run::site(device.clone(), &mut load), a.temporal_weight)?;
        super::run::announce(&a.run, shot.finish.is_some(), without_finish, shot.sides.len() > 1);
        let bar = if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(n as u64) };
        if let Ok(style) = indicatif::ProgressStyle::with_template("frame {pos}/{len} [{elapsed_precise}<{eta_precise}] {bar:30} {msg}") {
            bar.set_style(style);
        }
        bar.set_position(start as u64);
        bar.reset_eta();
        // The frame before `start`, at the painted size, and its painting (from disk on a restart).
        let mut previous = match start {
            0 => None,
            k => {
                let content = decode_file(&layout.frames[k - 1], "the previous frame")?.to_working(shot.side(), "the previous frame")?;
                let painting = decode_file(&layout.painted[k - 1], "the previous painted frame")?.to_image();
                if (painting.width, painting.height) != (content.width, content.height) {
                    return Err(Error::Shot(format!(
                        "{} was painted at {}x{}, this run paints {}x{}: go on with the options it was started with, or paint into another output",
                        layout.painted[k - 1].display(),
                        painting.width,
                        painting.height,
                        content.width,
                        content.height
                    )));
                }
                Some(Frame { content, painting })
            }
        };
        for k in start..n {
            let what = format!("frame {}", layout.frames[k].display());
            let content = decode_file(&layout.frames[k], &what)?;
            let mut on_step = |rec: &ScaleRecord| bar.set_message(format!("{} iterations, total {:.4e}", rec.iteration, rec.total));
            let (frame, cost) = pollster::block_on(shot.paint(content, previous.as_ref(), &mut on_step))?;
            write_atomic(&layout.painted[k], &frame.painting)?;
            bar.inc(1);
            if !quiet {
                bar.suspend(|| {
                    eprintln!("impasto: frame {}/{n}: {} iterations in {:.1} s", k + 1, cost.iterations, cost.elapsed_ms / 1000.0)
                });
            }
            previous = Some(frame);
        }
        bar.finish();
    }
    if let Some((video, fps, audio)) = &layout.video {
        let painted_dir = layout.painted[0].parent().unwrap_or(Path::new("."));
        make_video(painted_dir, video, fps, audio.as_deref())?;
        if !quiet {
            eprintln!("impasto: wrote {} ({n} frames at {fps} frames a second)", video.display());
        }
    }
    Ok(())
}

/// A frame's width and height from its header, or which frame could not be read.
fn frame_size(path: &Path) -> Result<(u32, u32)> {
    image::image_dimensions(path)
        .map_err(|e| Error::Decode { what: format!("frame {}", path.display()).into(), reason: e.to_string() })
}
