//! The decode-and-prepare path of every input image, as the CLI and the page take it: bytes →
//! decoded (format sniffed, EXIF orientation applied, transparency on white) → the working image
//! at a small long side, and the style image at the content's size. Any panic is a finding;
//! errors are the expected answer to bad bytes.
#![no_main]

use impasto::image_io::{self, Limits};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = image_io::decode(data, "the fuzz input", Limits::default()) else {
        return;
    };
    if let Ok(content) = decoded.to_working(64, "the fuzz input at 64 px") {
        assert_eq!(content.pixels.len(), 3 * (content.width * content.height) as usize);
        assert!(content.pixels.iter().all(|v| v.is_finite()));
        let _ = image_io::working_style(&decoded, &content, 1.0);
    }
});
