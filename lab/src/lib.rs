//! Impasto's lab: the tools that build and measure
//! models — distillation, time to quality — over the product's core (`impasto`). Nothing here
//! ships in the app or the `impasto` CLI.

pub mod distill;
pub mod prune;
pub mod ttq;
