#![cfg(not(target_family = "wasm"))]
//! The bad-input corpus: generated here into `target/bad-input-corpus/` (also the seeds
//! for fuzzing), then every file goes through the decode-and-prepare path and through the CLI.
//! Each file is either handled (the behaviour asserted below) or refused with one sentence that
//! names the problem.

mod common;

use std::path::PathBuf;

use image::{ImageEncoder, Rgb, RgbImage};
use impasto::error::Input;
use impasto::image_io::{self, Limits};

/// What must happen to a file.
enum Expect {
    /// Decodes; prepared at a 64 px long side, it has this size.
    Ok(u32, u32),
    /// Refused; the message contains this.
    Refused(&'static str),
}

fn png(img: &image::DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

fn jpeg(img: &image::DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Jpeg).unwrap();
    out
}

/// A CMYK JPEG (what print workflows export), built from a grayscale baseline JPEG of `gray`: the
/// same frame declared with four components (C, M, Y, K, Adobe APP14 marker, no colour transform)
/// and four non-interleaved scans, each the grayscale scan's entropy-coded data (a one-component
/// scan of a 1×1-sampled component is coded exactly like a grayscale image). So C = M = Y = K =
/// the gray level. No encoder the project depends on writes CMYK.
fn cmyk_jpeg(gray: &image::GrayImage) -> Vec<u8> {
    let src = jpeg(&image::DynamicImage::ImageLuma8(gray.clone()));
    // Walk the marker segments up to the scan, then take the scan data up to EOI.
    let (mut pos, mut dqt, mut dht, mut sof) = (2, Vec::new(), Vec::new(), Vec::new());
    let scan_data = loop {
        assert_eq!(src[pos], 0xFF);
        let marker = src[pos + 1];
        let len = u16::from_be_bytes([src[pos + 2], src[pos + 3]]) as usize;
        let segment = &src[pos..pos + 2 + len];
        match marker {
            0xDB => dqt.extend_from_slice(segment),
            0xC4 => dht.extend_from_slice(segment),
            0xC0 => sof = segment.to_vec(),
            0xDA => break src[pos + 2 + len..src.len() - 2].to_vec(),
            _ => {}
        }
        pos += 2 + len;
    };
    assert_eq!(sof[9], 1, "a one-component frame");
    let (precision_and_size, table) = (&sof[4..9], sof[12]);
    let mut out = vec![0xFF, 0xD8];
    // Adobe APP14: version 100, flags 0, 0, transform 0 (CMYK stored as is).
    out.extend_from_slice(&[0xFF, 0xEE, 0x00, 0x0E, b'A', b'd', b'o', b'b', b'e', 0x00, 0x64, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&dqt);
    out.extend_from_slice(&[0xFF, 0xC0, 0x00, 8 + 3 * 4]);
    out.extend_from_slice(precision_and_size);
    out.push(4);
    for id in 1..=4u8 {
        out.extend_from_slice(&[id, 0x11, table]);
    }
    out.extend_from_slice(&dht);
    for id in 1..=4u8 {
        out.extend_from_slice(&[0xFF, 0xDA, 0x00, 8, 1, id, 0x00, 0x00, 0x3F, 0x00]);
        out.extend_from_slice(&scan_data);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// A 32×16 picture whose corners differ, so orientation shows.
fn landscape() -> RgbImage {
    RgbImage::from_fn(32, 16, |x, y| Rgb([(x * 8) as u8, (y * 16) as u8, if x < 4 && y < 4 { 255 } else { 0 }]))
}

/// A JPEG with an EXIF APP1 segment holding only the orientation tag.
fn jpeg_with_orientation(orientation: u16) -> Vec<u8> {
    let plain = jpeg(&image::DynamicImage::ImageRgb8(landscape()));
    // TIFF header (little endian), one IFD with one entry: 0x0112 SHORT 1 = orientation.
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = plain[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&plain[2..]);
    out
}

/// A PNG whose header claims `width`×`height` (the rest is a tiny valid image's data).
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = png(&image::DynamicImage::ImageRgb8(RgbImage::new(4, 4)));
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    // Fix the IHDR CRC so that only the size is implausible.
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn corpus() -> Vec<(String, Vec<u8>, Expect)> {
    let photo = image::DynamicImage::ImageRgb8(RgbImage::from_fn(48, 32, |x, y| Rgb([(x * 5) as u8, (y * 7) as u8, 90])));
    let good_jpeg = jpeg(&photo);
    let good_png = png(&photo);
    let mut c: Vec<(String, Vec<u8>, Expect)> = vec![
        ("empty.jpg".into(), Vec::new(), Expect::Refused("is empty (0 bytes)")),
        ("truncated.png".into(), good_png[..good_png.len() / 2].to_vec(), Expect::Refused("could not be decoded")),
        ("text.jpg".into(), b"just some notes, not a picture\n".to_vec(), Expect::Refused("it looks like text")),
        ("document.jpg".into(), b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n".to_vec(), Expect::Refused("it looks like a PDF document")),
        (
            "drawing.svg".into(),
            b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"/>".to_vec(),
            Expect::Refused("an SVG drawing"),
        ),
        ("phone.heic".into(), b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec(), Expect::Refused("a HEIC/HEIF photo")),
        ("photo.avif".into(), b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf".to_vec(), Expect::Refused("an AVIF image")),
        ("one-pixel.png".into(), png(&image::DynamicImage::ImageRgb8(RgbImage::new(1, 1))), Expect::Ok(64, 64)),
        (
            "strip-20000x10.png".into(),
            png(&image::DynamicImage::ImageRgb8(RgbImage::new(20000, 10))),
            Expect::Refused("too small: 64x1 pixels"),
        ),
        ("bomb-60000x60000.png".into(), png_claiming(60000, 60000), Expect::Refused("is too large: 60000x60000 pixels")),
        (
            "sixteen-bit.png".into(),
            png(&image::DynamicImage::ImageRgb16(image::ImageBuffer::from_fn(48, 32, |x, _| Rgb([x as u16 * 1000, 0, 65535])))),
            Expect::Ok(64, 43),
        ),
        ("gray.jpg".into(), jpeg(&image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(48, 32, |x, _| image::Luma([x as u8 * 5])))), Expect::Ok(64, 43)),
        (
            "transparent.png".into(),
            png(&image::DynamicImage::ImageRgba8(image::RgbaImage::from_fn(48, 32, |x, _| image::Rgba([0, 0, 0, (x * 5) as u8])))),
            Expect::Ok(64, 43),
        ),
        ("good.jpg".into(), good_jpeg.clone(), Expect::Ok(64, 43)),
    ];
    c.push(("truncated.jpg".into(), good_jpeg[..good_jpeg.len() * 2 / 3].to_vec(), Expect::Refused("could not be decoded")));
    c.push(("palette.png".into(), palette_png(), Expect::Ok(64, 32)));
    c.push(("cmyk.jpg".into(), cmyk_jpeg(&image::GrayImage::from_fn(48, 32, |x, _| image::Luma([x as u8 * 5]))), Expect::Ok(64, 43)));
    // Animated GIF: the first frame is used.
    let mut gif = Vec::new();
    {
        let mut enc = image::codecs::gif::GifEncoder::new(&mut gif);
        for shade in [0u8, 255] {
            let frame = image::RgbaImage::from_pixel(40, 20, image::Rgba([shade, shade, shade, 255]));
            enc.encode_frame(image::Frame::new(frame)).unwrap();
        }
    }
    c.push(("animated.gif".into(), gif, Expect::Ok(64, 32)));
    // WebP (lossless).
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .write_image(landscape().as_raw(), 32, 16, image::ExtendedColorType::Rgb8)
        .unwrap();
    c.push(("landscape.webp".into(), webp, Expect::Ok(64, 32)));
    // EXIF orientations 1–8: 5–8 turn the 32×16 picture on its side.
    for o in 1..=8u16 {
        let expect = if o >= 5 { Expect::Ok(32, 64) } else { Expect::Ok(64, 32) };
        c.push((format!("exif-orientation-{o}.jpg"), jpeg_with_orientation(o), expect));
    }
    c
}

/// An 8×4 palette (colour type 3) PNG, written by hand with a stored (uncompressed) zlib stream.
fn palette_png() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let (w, h) = (8u32, 4u32);
    let mut raw = Vec::new();
    for y in 0..h {
        raw.push(0); // filter: none
        raw.extend((0..w).map(|x| ((x + y) % 2) as u8));
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    let mut z = vec![0x78, 0x01, 0x01];
    z.extend_from_slice(&(raw.len() as u16).to_le_bytes());
    z.extend_from_slice(&(!(raw.len() as u16)).to_le_bytes());
    z.extend_from_slice(&raw);
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 3, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"PLTE", &[200, 30, 30, 30, 30, 200]);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bad-input-corpus")
}

#[test]
fn every_corpus_file_is_handled_or_refused_in_one_sentence() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).unwrap();
    // The browser end-to-end test feeds the same files to the page (tests/e2e/app.test.mjs).
    let manifest: Vec<serde_json::Value> = corpus()
        .iter()
        .map(|(name, _, e)| serde_json::json!({ "name": name, "refused": matches!(e, Expect::Refused(_)) }))
        .collect();
    std::fs::write(dir.join("manifest.json"), serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    for (name, bytes, expect) in corpus() {
        std::fs::write(dir.join(&name), &bytes).unwrap();
        let prepared = image_io::decode(&bytes, "the content image", Limits::default())
            .and_then(|d| d.to_working(64, "the content image at this size"))
            .map_err(|e| e.about(Input::Content));
        match (expect, prepared) {
            (Expect::Ok(w, h), Ok(img)) => assert_eq!((img.width, img.height), (w, h), "{name}"),
            (Expect::Refused(needle), Err(e)) => {
                let m = e.to_string();
                assert!(m.contains(needle), "{name}: {m}");
                assert!(m.starts_with("the content image"), "{name}: {m}");
                assert!(!m.contains('\n'), "{name}: one line: {m}");
                // As data (what the page acts on): about the photo, of a kind a file can be wrong in.
                assert_eq!(e.input(), Some(Input::Content), "{name}");
                let kinds = ["empty-input", "unsupported-format", "decode", "too-large", "too-small"];
                assert!(kinds.contains(&e.kind()), "{name}: {}", e.kind());
            }
            (Expect::Ok(..), Err(e)) => panic!("{name} should decode: {e}"),
            (Expect::Refused(needle), Ok(img)) => panic!("{name} should be refused ({needle}), got {}x{}", img.width, img.height),
        }
    }
}

#[test]
fn a_cmyk_jpeg_decodes_to_the_colours_its_inks_make() {
    // C = M = Y = K at every pixel: equal inks make a neutral gray, so R = G = B, and the ramp
    // along x must survive the conversion (lighter or darker, depending on the Adobe convention).
    let img = image_io::decode(&cmyk_jpeg(&image::GrayImage::from_fn(48, 32, |x, _| image::Luma([x as u8 * 5]))), "c", Limits::default())
        .unwrap()
        .to_image();
    let n = (img.width * img.height) as usize;
    let px = |i: usize| [img.pixels[i], img.pixels[n + i], img.pixels[2 * n + i]];
    for i in 0..n {
        let [r, g, b] = px(i);
        assert!((r - g).abs() <= 2.0 && (g - b).abs() <= 2.0, "pixel {i}: {r} {g} {b}");
    }
    let (left, right) = (px(0)[0], px(img.width as usize - 1)[0]);
    assert!((left - right).abs() > 100.0, "the ramp: {left} … {right}");
}

#[test]
fn the_cli_handles_or_refuses_every_corpus_file_in_one_line() {
    let dir = corpus_dir().join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let style = common::shared_image("starry_night.jpg");
    let out = dir.join("out.png");
    for (name, bytes, expect) in corpus() {
        let path = dir.join(&name);
        std::fs::write(&path, &bytes).unwrap();
        let r = std::process::Command::new(env!("CARGO_BIN_EXE_impasto"))
            .args(["stylize", path.to_str().unwrap(), style.to_str().unwrap(), "-o", out.to_str().unwrap()])
            .args(["--size", "32", "--iterations", "1", "--backend", "cpu", "--quiet"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&r.stderr);
        match expect {
            Expect::Ok(..) => assert!(r.status.success(), "{name}: {err}"),
            Expect::Refused(_) => {
                assert!(!r.status.success(), "{name} was accepted");
                assert_eq!(err.trim().lines().count(), 1, "{name}: {err}");
                assert!(err.starts_with("impasto: the content image"), "{name}: {err}");
                assert!(!err.contains("panicked"), "{name}: {err}");
            }
        }
    }
}
