//! Impasto: neural style transfer (Gatys et al. 2016, as taught in Stanford CS20) on burn.
//!
//! The core (model, losses, optimizers, image I/O, the stepping [`Stylizer`]) is platform-free
//! and builds natively and for wasm32; the CLI (native) and the browser facade are thin layers
//! over it.

#![warn(missing_docs)]

pub mod budget;
pub mod clock;
pub mod device;
pub mod error;
pub mod film;
pub mod flow;
pub mod host;
pub mod image_io;
pub mod ladder;
pub mod loss;
pub mod models;
pub mod multiscale;
pub mod optim;
pub mod pace;
pub mod rng;
pub mod run;
pub mod settings;
pub mod stopping;
pub mod stylize;
pub mod tiled;
pub mod vgg;
pub mod weights;

#[cfg(target_family = "wasm")]
pub mod web;

#[cfg(not(target_family = "wasm"))]
pub mod cli;
#[cfg(not(target_family = "wasm"))]
pub mod judge;
pub mod onnx;
pub mod teacher;

pub use error::{Error, Result};
pub use stylize::{Config, Init, Preset, StepRecord, Stylizer};
pub use vgg::{Layer, Pooling, Vgg};
