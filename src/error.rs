//! The one error type of the core. Every failure a user can cause (a bad file, a missing model,
//! an impossible size) is a variant with a one-sentence message; the CLI prints it on one line
//! and the web facade hands it to the page as data: its kind, the input it is about, its message.

use std::fmt;

use thiserror::Error;

/// One of a run's images, for a face to show a message about it beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The photo.
    Content,
    /// The k-th painting (0: the first).
    Style(usize),
}

impl Input {
    /// Its name as data: `content`, `style`, `style2`, … (the page's names for its drop targets).
    pub fn name(self) -> String {
        match self {
            Input::Content => "content".into(),
            Input::Style(0) => "style".into(),
            Input::Style(k) => format!("style{}", k + 1),
        }
    }

    /// How a message names it: "the content image", "the style image", "style image 2".
    pub fn phrase(self) -> String {
        match self {
            Input::Content => "the content image".into(),
            Input::Style(0) => "the style image".into(),
            Input::Style(k) => format!("style image {}", k + 1),
        }
    }
}

/// What a message is about: the words it uses ("the content image at this size") and, where it
/// is one of a run's images, which one. Only the words are printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The phrase a message uses.
    pub phrase: String,
    /// The run's image it names, where the code that read it knows.
    pub input: Option<Input>,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.phrase)
    }
}

impl From<&str> for Subject {
    fn from(phrase: &str) -> Self {
        Subject { phrase: phrase.into(), input: None }
    }
}

impl From<String> for Subject {
    fn from(phrase: String) -> Self {
        Subject { phrase, input: None }
    }
}

/// Errors of the Impasto core.
#[derive(Debug, Error)]
pub enum Error {
    /// The bytes are empty.
    #[error("{what} is empty (0 bytes)")]
    EmptyInput {
        /// Which input ("the content image", ...).
        what: Subject,
    },
    /// The bytes are not an image format we decode.
    #[error("{what} is not a supported image (JPEG, PNG, WebP, GIF or BMP){detail}")]
    UnsupportedFormat {
        /// Which input.
        what: Subject,
        /// What the sniffer recognised, if anything (", it looks like a PDF").
        detail: String,
    },
    /// The decoder failed part way (truncated or corrupt file).
    #[error("{what} could not be decoded: {reason}")]
    Decode {
        /// Which input.
        what: Subject,
        /// The decoder's message.
        reason: String,
    },
    /// The image is larger than the decode cap (a decompression bomb, or simply too big).
    #[error("{what} is too large: {width}x{height} pixels (the limit is {max} pixels on a side and {max_pixels} megapixels)")]
    TooLarge {
        /// Which input.
        what: Subject,
        /// Declared width.
        width: u64,
        /// Declared height.
        height: u64,
        /// Largest side accepted.
        max: u32,
        /// Largest area accepted, in megapixels.
        max_pixels: u32,
    },
    /// The image (or the working size) is too small for VGG's five pooling stages.
    #[error("{what} is too small: {width}x{height} pixels (each side must be at least {min} pixels)")]
    TooSmall {
        /// Which input.
        what: Subject,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Smallest side accepted.
        min: u32,
    },
    /// An option is out of range.
    #[error("invalid setting: {0}")]
    InvalidConfig(String),
    /// A film shot cannot be painted as given: no frames, frames of different sizes, a video
    /// ffmpeg cannot read (or no ffmpeg), an output that is neither a folder nor a video.
    #[error("{0}")]
    Shot(String),
    /// Model weights are missing or do not fit the architecture.
    #[error("model weights: {0}")]
    Weights(String),
    /// The model asked for is not available.
    #[error("{0}")]
    ModelUnavailable(String),
    /// The compute device failed (GPU missing, device lost, readback failed).
    #[error("compute device: {0}")]
    Device(String),
    /// The optimization produced a non-finite loss.
    #[error("the optimization diverged (loss is {0}); try a smaller learning rate or another start image")]
    Diverged(f64),
    /// Encoding the output image failed.
    #[error("could not encode the result: {0}")]
    Encode(String),
    /// File system errors (native only), with the path in the message.
    #[error("{path}: {reason}")]
    Io {
        /// The path involved.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// Fetching or converting the teacher weights failed.
    #[error("teacher weights: {0}")]
    Fetch(String),
}

/// Result alias of the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error with its path, phrased for one line of output.
    pub fn io(path: impl AsRef<std::path::Path>, err: impl std::fmt::Display) -> Self {
        Error::Io { path: path.as_ref().display().to_string(), reason: err.to_string() }
    }

    /// The same error, known to be about `input` (the caller that read that image says so).
    pub fn about(mut self, input: Input) -> Self {
        if let Some(what) = self.subject_mut() {
            what.input = Some(input);
        }
        self
    }

    /// The run's image this error is about, if it is about one.
    pub fn input(&self) -> Option<Input> {
        match self {
            Error::EmptyInput { what }
            | Error::UnsupportedFormat { what, .. }
            | Error::Decode { what, .. }
            | Error::TooLarge { what, .. }
            | Error::TooSmall { what, .. } => what.input,
            _ => None,
        }
    }

    fn subject_mut(&mut self) -> Option<&mut Subject> {
        match self {
            Error::EmptyInput { what }
            | Error::UnsupportedFormat { what, .. }
            | Error::Decode { what, .. }
            | Error::TooLarge { what, .. }
            | Error::TooSmall { what, .. } => Some(what),
            _ => None,
        }
    }

    /// Its kind as data, for a face to act on without reading the message.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::EmptyInput { .. } => "empty-input",
            Error::UnsupportedFormat { .. } => "unsupported-format",
            Error::Decode { .. } => "decode",
            Error::TooLarge { .. } => "too-large",
            Error::TooSmall { .. } => "too-small",
            Error::InvalidConfig(_) => "invalid-setting",
            Error::Shot(_) => "shot",
            Error::Weights(_) => "weights",
            Error::ModelUnavailable(_) => "model-unavailable",
            Error::Device(_) => "device",
            Error::Diverged(_) => "diverged",
            Error::Encode(_) => "encode",
            Error::Io { .. } => "io",
            Error::Fetch(_) => "fetch",
        }
    }
}

/// A message on one line (some from decoders and drivers span several), without a final period
/// (the sentence around it adds its own).
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ").trim_end_matches('.').to_string()
}

/// The first line of a backend error's report: burn's device errors go on with "Caused by:" and
/// backtrace sections that tell a user nothing more.
pub fn first_line(report: &str) -> String {
    one_line(report.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("unknown error"))
}

