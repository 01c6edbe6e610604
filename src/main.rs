//! The `impasto` command line (native only; the browser uses the library's web facade).

#[cfg(not(target_family = "wasm"))]
fn main() -> std::process::ExitCode {
    impasto::cli::main()
}

#[cfg(target_family = "wasm")]
fn main() {}
