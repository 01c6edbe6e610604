//! Image I/O in one place, shared by the CLI and the browser: bytes in (any of the formats a user
//! may drop), a planar RGB working image out, and PNG bytes back.
//!
//! Decoding applies the EXIF orientation, composites transparency on white, keeps 16-bit
//! precision until the final float conversion, and refuses images whose declared size exceeds
//! [`Limits`] before allocating them (decompression bombs).
//!
//! (Decoding, resizing and encoding share the working image type and the limits: one module.)

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, imageops::FilterType};

use crate::error::{Error, Input, Result, one_line};

/// The smallest side a working image may have: VGG pools four times before conv5_1, so a side of
/// 16 pixels leaves conv5_1 one pixel.
pub const MIN_SIDE: u32 = 16;

/// The resampling filter used everywhere an image changes size (inputs to the working size, and
/// `impasto eval` bringing content and style to the output's size). One filter for all, because
/// Gram losses move by large factors with the filter: comparisons are only fair with the same one.
pub const RESAMPLE: FilterType = FilterType::CatmullRom;

/// Caps on what the decoder accepts.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest width or height accepted.
    pub max_side: u32,
    /// Largest area accepted, in pixels.
    pub max_pixels: u64,
}

impl Default for Limits {
    /// 20000 pixels on a side (a 20000×10 strip is decoded, then refused as too thin by the
    /// working size), 64 megapixels in area: a 50-megapixel scan passes, a 60000×60000 header is
    /// refused before any allocation.
    fn default() -> Self {
        Limits { max_side: 20_000, max_pixels: 64_000_000 }
    }
}

/// A planar RGB image, values 0..255 as `f32`, layout `[3][height][width]`: the layout of a
/// `[1, 3, H, W]` tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `3 * width * height` values, channel-major.
    pub pixels: Vec<f32>,
}

impl Image {
    /// An image from planar pixels; the length must be `3 * width * height`.
    pub fn from_planar(width: u32, height: u32, pixels: Vec<f32>) -> Result<Self> {
        if pixels.len() != 3 * width as usize * height as usize {
            return Err(Error::InvalidConfig(format!(
                "{} values do not make a {width}x{height} RGB image",
                pixels.len()
            )));
        }
        Ok(Image { width, height, pixels })
    }

    /// Interleaved RGBA bytes (alpha 255), rounded and clamped: what a canvas `ImageData` takes.
    pub fn to_rgba8(&self) -> Vec<u8> {
        let n = self.width as usize * self.height as usize;
        let mut out = Vec::with_capacity(4 * n);
        for i in 0..n {
            for c in 0..3 {
                out.push(to_u8(self.pixels[c * n + i]));
            }
            out.push(255);
        }
        out
    }

    /// The inverse of [`Image::to_rgba8`] (alpha ignored): how the page hands back an image it
    /// shows, to resume a run from it.
    pub fn from_rgba8(width: u32, height: u32, rgba: &[u8]) -> Result<Self> {
        let n = width as usize * height as usize;
        if rgba.len() != 4 * n {
            return Err(Error::InvalidConfig(format!("{} bytes do not make a {width}x{height} RGBA image", rgba.len())));
        }
        let mut pixels = vec![0.0; 3 * n];
        for (i, px) in rgba.chunks_exact(4).enumerate() {
            for c in 0..3 {
                pixels[c * n + i] = px[c] as f32;
            }
        }
        Ok(Image { width, height, pixels })
    }

    fn to_dynamic(&self) -> DynamicImage {
        let n = self.width as usize * self.height as usize;
        let mut buf = image::Rgb32FImage::new(self.width, self.height);
        for (i, px) in buf.pixels_mut().enumerate() {
            for c in 0..3 {
                px.0[c] = self.pixels[c * n + i] / 255.0;
            }
        }
        DynamicImage::ImageRgb32F(buf)
    }

    /// This image resized to exactly `width`×`height` with [`RESAMPLE`]; unchanged if it already
    /// has that size.
    pub fn resized(&self, width: u32, height: u32) -> Image {
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        from_dynamic(&self.to_dynamic().resize_exact(width, height, RESAMPLE))
    }
}

fn to_u8(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// Decoded image, oriented, transparency composited on white, not yet resized.
#[derive(Clone)]
pub struct Decoded {
    image: DynamicImage,
}

impl Decoded {
    /// Width after orientation.
    pub fn width(&self) -> u32 {
        self.image.width()
    }

    /// Height after orientation.
    pub fn height(&self) -> u32 {
        self.image.height()
    }

    /// A frame the browser decoded: RGBA bytes, alpha ignored (a video frame is opaque).
    pub fn from_rgba8(width: u32, height: u32, rgba: &[u8]) -> Result<Decoded> {
        Ok(Decoded { image: Image::from_rgba8(width, height, rgba)?.to_dynamic() })
    }

    /// The whole image as a float working image, at its own size.
    pub fn to_image(&self) -> Image {
        from_dynamic(&self.image)
    }

    /// The image scaled so that its long side is `long_side` pixels, aspect kept (each side
    /// rounded, at least 1). Used as is when it already has that size.
    pub fn to_working(&self, long_side: u32, what: &str) -> Result<Image> {
        let (w, h) = working_size(self.width(), self.height(), long_side);
        self.to_size(w, h, what)
    }

    /// The image resized to exactly `width`×`height` (aspect not kept): how CS20 brings the style
    /// image to the content's size.
    pub fn to_size(&self, width: u32, height: u32, what: &str) -> Result<Image> {
        check_min(width, height, what)?;
        if (width, height) == (self.width(), self.height()) {
            return Ok(self.to_image());
        }
        Ok(from_dynamic(&self.image.resize_exact(width, height, RESAMPLE)))
    }
}

/// The style scales a run takes: from strokes a tenth of the painting's to four times them.
pub const STYLE_SCALE_BOUNDS: (f32, f32) = (0.1, 4.0);

/// The style image for a run at a style scale (jcjohnson/neural-style `-style_scale`): resized
/// to the content's working size times `scale` (CS20's convention, the content's size, at 1), so
/// that a larger scale paints larger brush strokes (`input`: which painting, for a message about
/// it). One function for the CLI and the page.
pub fn working_style(style: &Decoded, content: &Image, scale: f32, input: Input) -> Result<Image> {
    let (lo, hi) = STYLE_SCALE_BOUNDS;
    if !(scale.is_finite() && (lo..=hi).contains(&scale)) {
        return Err(Error::InvalidConfig(format!("the style scale must be between {lo} and {hi}, not {scale}")));
    }
    let w = (content.width as f32 * scale).round().max(1.0) as u32;
    let h = (content.height as f32 * scale).round().max(1.0) as u32;
    style.to_size(w, h, &format!("{} at this style scale", input.phrase())).map_err(|e| e.about(input))
}

/// BT.601 full-range YCbCr of one RGB pixel (0..255), chroma centred on 0.
fn ycbcr(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    (
        0.299 * r + 0.587 * g + 0.114 * b,
        -0.168_736 * r - 0.331_264 * g + 0.5 * b,
        0.5 * r - 0.418_688 * g - 0.081_312 * b,
    )
}

/// Keep the photo's colours (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style
/// Transfer", luminance-only transfer as jcjohnson/neural-style's `-original_colors`): the
/// luminance (BT.601 Y) of `output` with the chroma (Cb, Cr) of `content`, same size.
pub fn original_colors(output: &Image, content: &Image) -> Result<Image> {
    if (output.width, output.height) != (content.width, content.height) {
        return Err(Error::InvalidConfig("original colours need the output at the content's size".into()));
    }
    let n = (output.width * output.height) as usize;
    let (o, c) = (&output.pixels, &content.pixels);
    let mut pixels = vec![0.0; 3 * n];
    for i in 0..n {
        let (y, _, _) = ycbcr(o[i], o[n + i], o[2 * n + i]);
        let (_, cb, cr) = ycbcr(c[i], c[n + i], c[2 * n + i]);
        pixels[i] = (y + 1.402 * cr).clamp(0.0, 255.0);
        pixels[n + i] = (y - 0.344_136 * cb - 0.714_136 * cr).clamp(0.0, 255.0);
        pixels[2 * n + i] = (y + 1.772 * cb).clamp(0.0, 255.0);
    }
    Ok(Image { width: output.width, height: output.height, pixels })
}

/// Chroma planes (Cb, Cr) of an image: for tests and checks.
pub fn chroma(img: &Image) -> (Vec<f32>, Vec<f32>) {
    let n = (img.width * img.height) as usize;
    let p = &img.pixels;
    (0..n).map(|i| {
        let (_, cb, cr) = ycbcr(p[i], p[n + i], p[2 * n + i]);
        (cb, cr)
    }).unzip()
}

/// Images of equal height side by side, left to right, with `gap` white pixels between them.
pub fn side_by_side(images: &[&Image], gap: u32) -> Result<Image> {
    let height = images.first().map_or(0, |i| i.height);
    if images.iter().any(|i| i.height != height) {
        return Err(Error::InvalidConfig("side-by-side images must have the same height".into()));
    }
    let width = images.iter().map(|i| i.width).sum::<u32>() + gap * images.len().saturating_sub(1) as u32;
    let (w, h) = (width as usize, height as usize);
    let mut pixels = vec![255.0; 3 * w * h];
    let mut x0 = 0usize;
    for img in images {
        let iw = img.width as usize;
        for c in 0..3 {
            for y in 0..h {
                let src = &img.pixels[(c * h + y) * iw..(c * h + y + 1) * iw];
                pixels[(c * h + y) * w + x0..(c * h + y) * w + x0 + iw].copy_from_slice(src);
            }
        }
        x0 += iw + gap as usize;
    }
    Ok(Image { width, height, pixels })
}

/// The working size for an image of `width`×`height` scaled to a long side of `long_side`.
pub fn working_size(width: u32, height: u32, long_side: u32) -> (u32, u32) {
    let long = width.max(height).max(1) as f64;
    let scale = long_side as f64 / long;
    let w = ((width as f64 * scale).round() as u32).max(1);
    let h = ((height as f64 * scale).round() as u32).max(1);
    (w, h)
}

fn check_min(width: u32, height: u32, what: &str) -> Result<()> {
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(Error::TooSmall { what: what.into(), width, height, min: MIN_SIDE });
    }
    Ok(())
}

fn from_dynamic(img: &DynamicImage) -> Image {
    let rgb = img.to_rgb32f();
    let (width, height) = rgb.dimensions();
    let n = width as usize * height as usize;
    let mut pixels = vec![0.0f32; 3 * n];
    for (i, px) in rgb.pixels().enumerate() {
        for c in 0..3 {
            pixels[c * n + i] = (px.0[c] * 255.0).clamp(0.0, 255.0);
        }
    }
    Image { width, height, pixels }
}

/// What a file that is not one of our image formats looks like, for the error message.
fn sniff(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(512)];
    let starts = |p: &[u8]| head.starts_with(p);
    let brand = if head.len() >= 12 && &head[4..8] == b"ftyp" { Some(&head[8..12]) } else { None };
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let kind = if starts(b"%PDF") {
        "a PDF document"
    } else if let Some(b) = brand {
        match b {
            b"heic" | b"heix" | b"hevc" | b"heim" | b"heis" | b"mif1" | b"msf1" => {
                "a HEIC/HEIF photo; export it as JPEG or PNG first"
            }
            b"avif" | b"avis" => "an AVIF image; export it as JPEG or PNG first",
            _ => "a video or ISO media file",
        }
    } else if text.contains("<svg") {
        "an SVG drawing; export it as PNG first"
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        "a TIFF image; export it as JPEG or PNG first"
    } else if starts(b"PK\x03\x04") {
        "a ZIP archive"
    } else if std::str::from_utf8(head).is_ok() {
        "text"
    } else {
        ""
    };
    if kind.is_empty() { String::new() } else { format!("; it looks like {kind}") }
}

/// Decode any supported image from bytes. `what` names the input in messages
/// ("the content image").
pub fn decode(bytes: &[u8], what: &str, limits: Limits) -> Result<Decoded> {
    if bytes.is_empty() {
        return Err(Error::EmptyInput { what: what.into() });
    }
    let unsupported = || Error::UnsupportedFormat { what: what.into(), detail: sniff(bytes) };
    let format = image::guess_format(bytes).map_err(|_| unsupported())?;
    let supported = matches!(
        format,
        image::ImageFormat::Jpeg
            | image::ImageFormat::Png
            | image::ImageFormat::WebP
            | image::ImageFormat::Gif
            | image::ImageFormat::Bmp
    );
    if !supported {
        return Err(unsupported());
    }
    let decode_err = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => Error::Decode {
            what: what.into(),
            reason: "it needs more memory than allowed".to_string(),
        },
        other => Error::Decode { what: what.into(), reason: one_line(&other.to_string()) },
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_side);
    image_limits.max_image_height = Some(limits.max_side);
    image_limits.max_alloc = Some(limits.max_pixels * 8);
    reader.limits(image_limits);
    let mut decoder = reader.into_decoder().map_err(|e| match e {
        image::ImageError::Limits(_) => too_large(bytes, format, what, limits),
        other => decode_err(other),
    })?;
    let (w, h) = decoder.dimensions();
    if w.max(h) > limits.max_side || w as u64 * h as u64 > limits.max_pixels {
        return Err(Error::TooLarge {
            what: what.into(),
            width: w as u64,
            height: h as u64,
            max: limits.max_side,
            max_pixels: (limits.max_pixels / 1_000_000) as u32,
        });
    }
    if w == 0 || h == 0 {
        return Err(Error::Decode { what: what.into(), reason: "it has no pixels".into() });
    }
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_err)?;
    image.apply_orientation(orientation);
    Ok(Decoded { image: flatten_alpha(image) })
}

/// The size the header declares, for a message when the decoder refused it on its limits.
fn too_large(bytes: &[u8], format: image::ImageFormat, what: &str, limits: Limits) -> Error {
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map(|(w, h)| (w as u64, h as u64))
        .unwrap_or((0, 0));
    Error::TooLarge {
        what: what.into(),
        width,
        height,
        max: limits.max_side,
        max_pixels: (limits.max_pixels / 1_000_000) as u32,
    }
}

/// Composite transparency on white, keeping 16-bit and float precision.
fn flatten_alpha(image: DynamicImage) -> DynamicImage {
    if !image.color().has_alpha() {
        return image;
    }
    match image {
        DynamicImage::ImageLumaA8(_) | DynamicImage::ImageRgba8(_) => {
            let mut rgba = image.to_rgba8();
            let mut out = image::RgbImage::new(rgba.width(), rgba.height());
            for (o, p) in out.pixels_mut().zip(rgba.pixels_mut()) {
                let a = p.0[3] as u32;
                for c in 0..3 {
                    o.0[c] = ((p.0[c] as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
                }
            }
            DynamicImage::ImageRgb8(out)
        }
        other => {
            let rgba = other.to_rgba32f();
            let mut out = image::Rgb32FImage::new(rgba.width(), rgba.height());
            for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
                let a = p.0[3].clamp(0.0, 1.0);
                for c in 0..3 {
                    o.0[c] = p.0[c] * a + (1.0 - a);
                }
            }
            DynamicImage::ImageRgb32F(out)
        }
    }
}

/// PNG bytes of an image (8-bit RGB, values rounded and clamped to 0..255).
pub fn encode_png(img: &Image) -> Result<Vec<u8>> {
    let n = img.width as usize * img.height as usize;
    let mut rgb = Vec::with_capacity(3 * n);
    for i in 0..n {
        for c in 0..3 {
            rgb.push(to_u8(img.pixels[c * n + i]));
        }
    }
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut out);
    image::ImageEncoder::write_image(encoder, &rgb, img.width, img.height, image::ExtendedColorType::Rgb8)
        .map_err(|e| Error::Encode(e.to_string()))?;
    Ok(out)
}

/// The timelapse of a run as an animated GIF, written frame by frame as the iterates come (the
/// classic tools only save every N-th image to disk). Loops forever.
pub struct GifTimelapse<W: std::io::Write> {
    encoder: image::codecs::gif::GifEncoder<W>,
    /// The first frame's size: later frames of another size (the stages of a coarse-to-fine run)
    /// are resized to it, since a GIF has one screen size.
    size: Option<(u32, u32)>,
}

impl<W: std::io::Write> GifTimelapse<W> {
    /// A timelapse written to `out`.
    pub fn new(out: W) -> Result<Self> {
        // NeuQuant speed 10 (1 best … 30 fastest): a frame of 512×384 in tens of milliseconds.
        let mut encoder = image::codecs::gif::GifEncoder::new_with_speed(out, 10);
        encoder.set_repeat(image::codecs::gif::Repeat::Infinite).map_err(|e| Error::Encode(e.to_string()))?;
        Ok(GifTimelapse { encoder, size: None })
    }

    /// Append one frame shown for `delay_ms`.
    pub fn push(&mut self, img: &Image, delay_ms: u32) -> Result<()> {
        let (w, h) = *self.size.get_or_insert((img.width, img.height));
        let resized;
        let img = if (img.width, img.height) == (w, h) {
            img
        } else {
            resized = img.resized(w, h);
            &resized
        };
        let buffer = image::RgbaImage::from_raw(img.width, img.height, img.to_rgba8())
            .ok_or_else(|| Error::Encode("timelapse frame has the wrong size".into()))?;
        let delay = image::Delay::from_numer_denom_ms(delay_ms, 1);
        self.encoder
            .encode_frame(image::Frame::from_parts(buffer, 0, 0, delay))
            .map_err(|e| Error::Encode(e.to_string()))?;
        Ok(())
    }
}

/// Every file under `dir`, recursively (unsorted): what `impasto resize` and the lab's training
/// images read from a directory.
#[cfg(not(target_family = "wasm"))]
pub fn collect_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// The PNG and JPEG files directly in `dir`, in file-name order: a film shot's frames.
#[cfg(not(target_family = "wasm"))]
pub fn frame_files(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let mut frames = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        if path.is_file() && matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg")) {
            frames.push(path);
        }
    }
    frames.sort();
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(img: &image::DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn working_size_keeps_aspect() {
        assert_eq!(working_size(1024, 768, 384), (384, 288));
        assert_eq!(working_size(768, 1024, 384), (288, 384));
        assert_eq!(working_size(20000, 10, 512), (512, 1));
    }

    #[test]
    fn transparency_is_composited_on_white() {
        let mut rgba = image::RgbaImage::new(20, 20);
        for p in rgba.pixels_mut() {
            *p = image::Rgba([0, 0, 0, 0]);
        }
        rgba.put_pixel(0, 0, image::Rgba([10, 20, 30, 255]));
        let d = decode(&png(&DynamicImage::ImageRgba8(rgba)), "x", Limits::default()).unwrap();
        let img = d.to_image();
        assert_eq!(img.pixels[1], 255.0);
        assert_eq!((img.pixels[0], img.pixels[400], img.pixels[800]), (10.0, 20.0, 30.0));
    }

    #[test]
    fn sixteen_bit_keeps_precision() {
        let mut im = image::ImageBuffer::<image::Rgb<u16>, _>::new(16, 16);
        for p in im.pixels_mut() {
            *p = image::Rgb([257 * 100 + 128, 0, 65535]);
        }
        let d = decode(&png(&DynamicImage::ImageRgb16(im)), "x", Limits::default()).unwrap();
        let v = d.to_image().pixels[0];
        assert!((v - 100.498).abs() < 0.01, "{v}");
    }

    #[test]
    fn messages_name_the_problem() {
        let l = Limits::default();
        let e = decode(b"", "the content image", l).err().unwrap().to_string();
        assert_eq!(e, "the content image is empty (0 bytes)");
        let e = decode(b"%PDF-1.4 blah", "the style image", l).err().unwrap().to_string();
        assert!(e.contains("not a supported image") && e.contains("PDF"), "{e}");
        let e = decode(b"hello world, just text", "x", l).err().unwrap().to_string();
        assert!(e.contains("looks like text"), "{e}");
        let small = png(&DynamicImage::ImageRgb8(image::RgbImage::new(40, 30)));
        let e = decode(&small[..small.len() / 2], "x", l).err().unwrap().to_string();
        assert!(e.starts_with("x could not be decoded"), "{e}");
    }

    #[test]
    fn round_trip_png() {
        let img = Image::from_planar(2, 1, vec![0.0, 255.0, 10.4, 10.6, 300.0, -5.0]).unwrap();
        let d = decode(&encode_png(&img).unwrap(), "x", Limits::default()).unwrap();
        assert_eq!(d.to_image().pixels, vec![0.0, 255.0, 10.0, 11.0, 255.0, 0.0]);
    }
}

