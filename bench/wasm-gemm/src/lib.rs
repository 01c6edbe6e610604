//! Exports for `run.mjs`: buffers in the module's memory and one product C = A·B (row-major,
//! A m×k, B k×n, C m×n) by either crate, so that Node's V8 times the same wasm code a browser runs.

use std::alloc::{alloc_zeroed, Layout};

/// A zeroed buffer of `len` f32 in the module's memory, for the caller to fill.
#[no_mangle]
pub extern "C" fn buffer(len: usize) -> *mut f32 {
    // SAFETY: a non-zero size with f32's alignment; the buffer lives as long as the module.
    unsafe { alloc_zeroed(Layout::array::<f32>(len.max(1)).expect("buffer size")) as *mut f32 }
}

/// C = A·B by the `gemm` crate (its simd128 kernels), as `src/host.rs` calls it.
///
/// # Safety
/// `a`, `b`, `c` are buffers of m·k, k·n and m·n f32 from [`buffer`].
#[no_mangle]
pub unsafe extern "C" fn by_gemm(m: usize, k: usize, n: usize, a: *const f32, b: *const f32, c: *mut f32) {
    gemm::gemm(m, n, k, c, 1, n as isize, false, a, 1, k as isize, b, 1, n as isize, 0.0, 1.0, false, false, false, gemm::Parallelism::None);
}

/// C = A·B by `matrixmultiply` (its simd128 kernel; fused multiply-adds where built with
/// relaxed SIMD).
///
/// # Safety
/// As [`by_gemm`].
#[no_mangle]
pub unsafe extern "C" fn by_matrixmultiply(m: usize, k: usize, n: usize, a: *const f32, b: *const f32, c: *mut f32) {
    matrixmultiply::sgemm(m, k, n, 1.0, a, k as isize, 1, b, n as isize, 1, 0.0, c, n as isize, 1);
}
