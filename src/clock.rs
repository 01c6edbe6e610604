//! Milliseconds from a monotonic clock, natively and in the browser (`std::time::Instant`
//! panics on wasm32-unknown-unknown).

/// Milliseconds since an arbitrary origin, monotonic.
#[cfg(not(target_family = "wasm"))]
pub fn now_ms() -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}

/// Milliseconds since an arbitrary origin, monotonic: `performance.now()` of the page or worker.
#[cfg(target_family = "wasm")]
pub fn now_ms() -> f64 {
    use wasm_bindgen::JsCast;
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &"performance".into())
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map_or_else(js_sys::Date::now, |p| p.now())
}
