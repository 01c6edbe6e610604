//! A film shot in the page ([`crate::film`]): the page decodes the clip (WebCodecs) and hands the
//! frames over one at a time as RGBA. Each frame is a [`WebStylizer`] that the worker steps as it
//! steps an image's run; its painting, handed back, is where the next frame starts.

use wasm_bindgen::prelude::*;

use super::{Engine, WebError, WebStylizer, read_styles, style_bytes};
use crate::error::{Error, Input};
use crate::film::{self, Frame, Shot};
use crate::image_io::{self, Decoded, Image};

/// The most frames a shot painted in the page may have: the page holds every frame decoded, and
/// on the CPU engine a frame takes about a minute (4 s of video at 30 frames a second).
pub const MAX_FRAMES: u32 = 120;

/// The largest long side of a shot's frames in the page: 120 frames at this size are 280 MB
/// decoded at 16:9, 500 MB square.
pub const MAX_SIDE: u32 = 1024;

/// One shot being painted.
#[wasm_bindgen]
pub struct WebShot {
    shot: Shot,
    /// The frames' width and height, as the page decoded them.
    frame_size: (u32, u32),
    /// The frame painted last: where the next one starts.
    previous: Option<Frame>,
    /// The content of the frame being painted, at the painted size, until its painting comes back.
    current: Option<Image>,
    without_finish: bool,
}

#[wasm_bindgen]
impl Engine {
    /// Start a shot of `width`×`height` frames (`first`, RGBA, the first of them) in the style of
    /// `styles` blended by `weights`, with `options` as for `stylizer` (but a time budget: every
    /// frame is painted to its end) and the temporal weight `temporalWeight` (`undefined`: the
    /// core's default; 0: every frame on its own). VGG16's finish where the run asks for it and
    /// its weights are loaded; otherwise the whole shot is painted without it (`withoutFinish`),
    /// so that every frame has the same painter.
    #[allow(clippy::too_many_arguments)] // the page's call: each argument is one of its inputs
    pub fn shot(
        &self,
        width: u32,
        height: u32,
        first: &[u8],
        styles: js_sys::Array,
        weights: Vec<f32>,
        options: JsValue,
        temporal_weight: Option<f32>,
    ) -> Result<WebShot, WebError> {
        let (spec, _) = self.spec(options)?;
        let temporal_weight = temporal_weight.unwrap_or(film::DEFAULT_TEMPORAL_WEIGHT);
        film::check(spec.config.original_colors, temporal_weight)?;
        let first = frame(width, height, first)?;
        let styles = read_styles(&style_bytes(styles, weights)?)?;
        let (shot, without_finish) = self.at_site(false, |site| Shot::new(&spec, styles, &first, site, temporal_weight))?;
        Ok(WebShot { shot, frame_size: (width, height), previous: None, current: None, without_finish })
    }
}

/// A frame as the page decoded it.
fn frame(width: u32, height: u32, rgba: &[u8]) -> Result<Decoded, Error> {
    if width.max(height) > MAX_SIDE {
        return Err(Error::Shot(format!("the frames are {width}x{height}; a shot's frames are at most {MAX_SIDE} px long")));
    }
    Decoded::from_rgba8(width, height, rgba).map_err(|e| e.about(Input::Content))
}

#[wasm_bindgen]
impl WebShot {
    /// The run that paints the next frame (`rgba`, of the shot's frame size): the first as an
    /// image is painted, each later one from the previous painting carried along the motion, with
    /// the temporal term. Step it as any run; once finished, hand its last image to `painted`.
    pub async fn frame(&mut self, rgba: Vec<u8>) -> Result<WebStylizer, WebError> {
        let (w, h) = self.frame_size;
        let content = frame(w, h, &rgba)?;
        let working = content.to_working(self.shot.side(), "the frame")?;
        let run = match &self.previous {
            Some(p) => self.shot.next(content, &p.content, &p.painting).await?,
            None => self.shot.first(content)?,
        };
        self.current = Some(working);
        Ok(WebStylizer { inner: run, notice: None, painter: self.shot.painter })
    }

    /// Hand back the painting of the frame the last `frame` call began (RGBA at the painted size:
    /// its run's last image): where the next frame starts.
    pub fn painted(&mut self, rgba: &[u8]) -> Result<(), WebError> {
        let content = self.current.take().ok_or_else(|| Error::Shot("no frame of this shot is being painted".into()))?;
        let painting = Image::from_rgba8(content.width, content.height, rgba)?;
        self.previous = Some(Frame { content, painting });
        Ok(())
    }

    /// Go on with a shot painted in part before (the page keeps every painted frame): `content`
    /// the last frame painted (RGBA, the shot's frame size) and `painting` its painting (RGBA, the
    /// painted size). The next `frame` starts from it.
    #[wasm_bindgen(js_name = goOnAfter)]
    pub fn go_on_after(&mut self, content: &[u8], painting: &[u8]) -> Result<(), WebError> {
        let (w, h) = self.frame_size;
        let content = frame(w, h, content)?.to_working(self.shot.side(), "the previous frame")?;
        let painting = Image::from_rgba8(content.width, content.height, painting).map_err(|_| {
            Error::Shot(format!(
                "the kept painting of the previous frame is not {}x{}: it was painted with other settings",
                content.width, content.height
            ))
        })?;
        self.current = None;
        self.previous = Some(Frame { content, painting });
        Ok(())
    }

    /// The painted frames' width.
    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.painted_size().0
    }

    /// The painted frames' height.
    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.painted_size().1
    }

    /// The run asked for VGG16's finish, but its weights were not loaded: every frame is painted
    /// without it.
    #[wasm_bindgen(getter, js_name = withoutFinish)]
    pub fn without_finish(&self) -> bool {
        self.without_finish
    }

    fn painted_size(&self) -> (u32, u32) {
        image_io::working_size(self.frame_size.0, self.frame_size.1, self.shot.side())
    }
}
