//! A film shot painted frame by frame, steady from frame to frame.
//!
//! The source: "Bringing Impressionism to Life with Neural Style Transfer in Come Swim" (Joshi,
//! Stewart & Shapiro 2017) redrew a short film's shots with Gatys et al.'s optimization, each
//! frame on its own. Frames painted on their own flicker: each starts from its own noise and
//! settles in its own local minimum. So, as Ruder, Dosovitskiy & Brox (2016, "Artistic style
//! transfer for videos") do, each frame after the first starts from the previous painted frame
//! carried along the optical flow ([`crate::flow`]), and its loss adds a short-term temporal
//! term: the squared difference to that carried frame where the motion is known. Where it is
//! not, or brought what is no longer there, the start has the content's change added and the
//! term leaves the pixels free ([`later_start`]). A temporal weight of 0 paints the frames
//! independently (Come Swim's way), the control.
//!
//! The first frame is painted as an image is ([`MultiScale`], coarse to fine with the default
//! preset); each later frame is one stage at the last size, by L-BFGS and the default ladder's
//! finishing rule (the last stage's model; its finish where the run has one), so a frame that
//! starts close to its answer costs few iterations. An optimizer or learning rate asked for
//! paints the first frame only.

use burn::tensor::{Device, Tensor};

use crate::device::read;
use crate::error::{Error, Result};
use crate::flow;
use crate::image_io::{Decoded, Image};
use crate::models::ModelKind;
use crate::multiscale::{Finish, MultiScale, ScaleRecord, TEACHER_LADDER};
use crate::optim::{OptimizerKind, PIXEL_RANGE};
use crate::run::{RunSpec, Site};
use crate::stopping::Stopping;
use crate::stylize::{Config, to_tensor};
use crate::vgg::Vgg;

/// The temporal weight a shot is painted with where none is asked for: λ of [`Temporal`].
/// Ruder et al.'s λ (200) is on their own loss scale; here 1e4 left frames as unsteady as
/// independent ones and 1e5 cut the temporal error to about a third of theirs with the style kept
/// (Big Buck Bunny at 192 px, BENCHMARKS.md "Film").
pub const DEFAULT_TEMPORAL_WEIGHT: f32 = 1e5;

/// Ruder et al.'s short-term temporal loss (their eq. 6): λ/D · Σ c·(x − ω)², with ω the previous
/// painted frame carried to this one, c the mask of pixels where ω is trusted ([`later_start`])
/// and D = 3·H·W (0..255 pixels).
#[derive(Clone, Debug)]
pub struct Temporal {
    target: Tensor<4>,
    mask: Tensor<4>,
    weight: f32,
}

impl Temporal {
    /// The term for a frame: `target` (ω, `[1, 3, H, W]`) is the previous painted frame carried
    /// to it, `mask` (c, `[1, 1, H, W]`) 1 where that is to be trusted.
    pub fn new(target: Tensor<4>, mask: Tensor<4>, weight: f32) -> Result<Temporal> {
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(Error::InvalidConfig(format!("the temporal weight must be a finite number ≥ 0, not {weight}")));
        }
        Ok(Temporal { target, mask, weight })
    }

    /// `[1, 3, H, W]`: the size of image the term applies to.
    pub fn dims(&self) -> [usize; 4] {
        self.target.dims()
    }

    /// λ.
    pub fn weight(&self) -> f32 {
        self.weight
    }

    /// The weighted term at `x` (`[1, 3, H, W]`, as [`Temporal::dims`]) and its gradient with
    /// respect to `x`.
    pub fn loss_and_gradient(&self, x: Tensor<4>) -> (Tensor<1>, Tensor<4>) {
        let (distance, gradient) = self.distance_and_gradient(x);
        (distance.mul_scalar(self.weight), gradient.mul_scalar(self.weight))
    }

    /// The term unweighted, 1/D · Σ c·(x − ω)², and its gradient 2/D · c·(x − ω) (closed form: a
    /// masked squared distance).
    pub fn distance_and_gradient(&self, x: Tensor<4>) -> (Tensor<1>, Tensor<4>) {
        let count = x.shape().num_elements() as f32;
        let diff = (x - self.target.clone()) * self.mask.clone();
        (diff.clone().square().sum().div_scalar(count), diff.mul_scalar(2.0 / count))
    }
}

/// The settings a shot cannot take, said before any frame is read: original colours, a temporal
/// weight that is not a number ≥ 0.
pub fn check(original_colors: bool, temporal_weight: f32) -> Result<()> {
    if original_colors {
        // The temporal term compares the optimised images; a kept frame has the photo's colours
        // put back, so a resumed shot could not carry it.
        return Err(Error::InvalidConfig("original colours are not available for a film shot yet".into()));
    }
    if !(temporal_weight.is_finite() && temporal_weight >= 0.0) {
        return Err(Error::InvalidConfig(format!("the temporal weight must be a finite number ≥ 0, not {temporal_weight}")));
    }
    Ok(())
}

/// How every frame of a shot is painted: the run an image would get, and the temporal weight.
#[derive(Clone)]
pub struct Shot {
    /// The settings of every frame.
    pub config: Config,
    /// The style images and their blend weights.
    pub styles: Vec<(Decoded, f32)>,
    /// The style images' size relative to the frames'.
    pub style_scale: f32,
    /// The first frame's sizes (coarse to fine, smallest first); later frames are painted at the
    /// last of them.
    pub sides: Vec<u32>,
    /// When each stage stops.
    pub stopping: Stopping,
    /// The model of every stage but a finish's.
    pub model: Vgg,
    /// Its kind.
    pub painter: ModelKind,
    /// The last stage's model, optimizer and rule, where they differ ([`Finish`]).
    pub finish: Option<Finish>,
    /// Where the painting runs.
    pub device: Device,
    /// λ of [`Temporal`]; 0 paints each frame on its own.
    pub temporal_weight: f32,
}

impl Shot {
    /// The shot of frames the size of `first`, painted as `spec` asks at `site`: each frame gets
    /// the run an image of that size would get, the later ones with the temporal term of weight
    /// `temporal_weight`. Also whether the teacher's finish was left out for want of its weights
    /// ([`crate::run::Painters::without_finish`]).
    pub fn new(
        spec: &RunSpec,
        styles: Vec<(Decoded, f32)>,
        first: &Decoded,
        site: &mut Site,
        temporal_weight: f32,
    ) -> Result<(Shot, bool)> {
        spec.check()?;
        check(spec.config.original_colors, temporal_weight)?;
        let (plan, whole) = spec.plan_at(first, site, None)?;
        let painters = spec.painters(&whole.sides, (first.width(), first.height()), site)?;
        let shot = Shot {
            config: spec.config.clone(),
            styles,
            style_scale: spec.style_scale,
            sides: plan.sides,
            stopping: spec.stopping,
            model: painters.model,
            painter: painters.kind,
            finish: painters.finish,
            device: site.device.clone(),
            temporal_weight,
        };
        Ok((shot, painters.without_finish))
    }

    /// The long side every painted frame has.
    pub fn side(&self) -> u32 {
        *self.sides.last().unwrap_or(&0)
    }

    /// The run that paints the shot's first frame (or every frame, with a temporal weight of 0):
    /// as an image is painted.
    pub fn first(&self, content: Decoded) -> Result<MultiScale> {
        MultiScale::new(
            self.config.clone(),
            content,
            self.styles.clone(),
            self.style_scale,
            self.sides.clone(),
            self.stopping,
            self.model.clone(),
            self.finish.clone(),
            self.device.clone(),
            None,
        )
    }

    /// The run that paints frame `content`, given the content frame before it (`previous`, at the
    /// painted size) and its painting: one stage at the last size, starting from the painting
    /// carried along the motion ([`later_start`]), with the temporal term. With a temporal weight
    /// of 0, as [`Shot::first`].
    pub async fn next(&self, content: Decoded, previous: &Image, painting: &Image) -> Result<MultiScale> {
        if self.temporal_weight == 0.0 {
            return self.first(content);
        }
        let side = self.side();
        let current = content.to_working(side, "the frame")?;
        for (what, img) in [("the previous frame", previous), ("the previous painting", painting)] {
            if (img.width, img.height) != (current.width, current.height) {
                return Err(Error::Shot(format!(
                    "{what} is {}x{}, this frame {}x{}: every frame of a shot has one size",
                    img.width, img.height, current.width, current.height
                )));
            }
        }
        let device = self.device.clone().inner();
        let frame = to_tensor(&current, &device);
        let carried = flow::carry(to_tensor(painting, &device), to_tensor(previous, &device), frame.clone(), flow::Outside::Mirrored);
        let (start, trusted) = later_start(&carried, frame);
        let start = Image::from_planar(current.width, current.height, read(start.reshape([-1])).await?)?;
        // Later frames by L-BFGS, as Ruder et al. paint theirs (where the finish is not L-BFGS
        // already): a frame starts near its answer, and Adam's first steps move every pixel by
        // about its learning rate whatever the gradient's size, which undoes the warm start.
        let (config, stopping) = match &self.finish {
            Some(_) => (self.config.clone(), self.stopping),
            None => {
                let stopping = match self.stopping {
                    Stopping::Auto(_) => Stopping::Auto(TEACHER_LADDER.rule),
                    fixed => fixed,
                };
                (self.config.with_optimizer(OptimizerKind::Lbfgs), stopping)
            }
        };
        let mut run = MultiScale::new(
            config,
            content,
            self.styles.clone(),
            self.style_scale,
            vec![side],
            stopping,
            self.model.clone(),
            self.finish.clone(),
            self.device.clone(),
            Some((&start, 0)),
        )?;
        run.set_temporal(Temporal::new(carried.image, trusted, self.temporal_weight)?)?;
        Ok(run)
    }
}

/// Where a later frame starts (`[1, 3, H, W]`, 0..255) and where its temporal term applies
/// (`[1, 1, H, W]`, 1 or 0), from the previous painting `carried` to frame `frame`
/// (`[1, 3, H, W]`, 0..255).
///
/// The start is the carried painting, with the change of the content's luminance added where the
/// motion is unknown or brought the wrong thing ([`flow::change`]): the strokes and colours carry
/// on, and the frame's new shapes are in them. Not the photo there (its colours move the whole
/// frame's Gram matrices), nor the carried painting alone (it keeps a moving subject's earlier
/// pose; a later frame's few iterations repaint little: BENCHMARKS.md "Film"). The temporal term
/// applies where the motion is known and brought what is there.
pub fn later_start(carried: &flow::Carried, frame: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let (difference, changed) = flow::change(carried, frame);
    let unknown = (carried.mask.clone().neg().add_scalar(1.0) + changed.clone()).clamp(0.0, 1.0);
    let start = (carried.image.clone() + (difference * unknown).mul_scalar(255.0)).clamp(PIXEL_RANGE.0, PIXEL_RANGE.1);
    (start, carried.mask.clone() * changed.neg().add_scalar(1.0))
}

/// A painted frame, as the next frame needs it.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The content frame at the painted size.
    pub content: Image,
    /// Its painting.
    pub painting: Image,
}

/// What painting a frame took.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameCost {
    /// Iterations, all stages.
    pub iterations: u32,
    /// Milliseconds spent stepping.
    pub elapsed_ms: f64,
}

impl Shot {
    /// Paint frame `content` to its end, after `previous` (the shot's frame before it, where there
    /// is one), calling `on_step` after every iteration: the first frame as an image is painted,
    /// each later one as [`Shot::next`] says.
    pub async fn paint(
        &self,
        content: Decoded,
        previous: Option<&Frame>,
        on_step: &mut dyn FnMut(&ScaleRecord),
    ) -> Result<(Frame, FrameCost)> {
        let working = content.to_working(self.side(), "the frame")?;
        let mut run = match previous {
            Some(p) => self.next(content, &p.content, &p.painting).await?,
            None => self.first(content)?,
        };
        loop {
            let rec = run.step().await?;
            on_step(&rec);
            if rec.finished {
                let cost = FrameCost { iterations: rec.iteration, elapsed_ms: rec.elapsed_ms };
                return Ok((Frame { content: working, painting: run.image().await? }, cost));
            }
        }
    }
}

/// Ruder et al.'s temporal error of a painted frame: the mean absolute difference, on 0..255 over
/// the three channels, between `painting` and the previous painted frame carried to it along the
/// flow of the content frames, over the pixels whose motion is known. With the share of pixels
/// that is.
pub async fn temporal_error(
    device: &Device,
    previous: &Image,
    current: &Image,
    previous_painting: &Image,
    painting: &Image,
) -> Result<(f32, f32)> {
    let device = device.clone().inner();
    let t = |img: &Image| to_tensor(img, &device);
    let carried = flow::carry(t(previous_painting), t(previous), t(current), flow::Outside::Edge);
    let diff = (t(painting) - carried.image).abs() * carried.mask.clone();
    let v = read(Tensor::cat(vec![diff.sum().reshape([1]), carried.mask.sum().reshape([1])], 0)).await?;
    let known = v[1].max(1.0);
    Ok((v[0] / (3.0 * known), v[1] / (current.width * current.height) as f32))
}
