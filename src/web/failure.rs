//! An error as the page gets it: a JS `Error` whose message is the core's sentence, with its
//! `kind` ("unsupported-format", "too-small", …) and the `input` it is about ("content", "style",
//! "style2"; null for none) as data, so the page acts on data and never reads the English.

use wasm_bindgen::JsValue;

use crate::error::Error;

/// A core error on its way to the page (thrown by every call of the module that can fail).
#[derive(Debug)]
pub struct WebError(Error);

impl WebError {
    /// [`Error::kind`].
    pub fn kind(&self) -> &'static str {
        self.0.kind()
    }

    /// The name of the run's image it is about ([`Error::input`]).
    pub fn input(&self) -> Option<String> {
        self.0.input().map(|i| i.name())
    }

    /// The one-sentence message.
    pub fn message(&self) -> String {
        self.0.to_string()
    }
}

impl From<Error> for WebError {
    fn from(e: Error) -> Self {
        WebError(e)
    }
}

impl From<WebError> for JsValue {
    fn from(e: WebError) -> JsValue {
        let js = js_sys::Error::new(&e.message());
        // Setting a property of a new plain Error cannot fail (no setter, not frozen).
        let _ = js_sys::Reflect::set(&js, &"kind".into(), &e.kind().into());
        let _ = js_sys::Reflect::set(&js, &"input".into(), &e.input().map_or(JsValue::NULL, JsValue::from));
        js.into()
    }
}
