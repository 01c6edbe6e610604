//! One builder of a run for every face: from what is asked ([`RunSpec`]) and where it paints
//! ([`Site`]), the plan (its sizes, within what the device holds), the models that paint each
//! stage (the teacher's ladder where it applies, and what happens while the teacher is still to
//! come or missing) and the [`MultiScale`] that paints it. The CLI, the page, the lab and a film
//! shot call it; none of them assembles a run itself.

use burn::tensor::Device;

use crate::budget::DeviceBudget;
use crate::error::{Error, Input, Result};
use crate::image_io::{self, Decoded, Image};
use crate::ladder::{Finish, LadderRecipe};
#[cfg(doc)]
use crate::ladder::TEACHER_LADDER;
use crate::models::{ModelChoice, ModelKind};
use crate::multiscale::{Holder, MultiScale, RunPlan, SizeRequest};
use crate::stopping::Stopping;
use crate::stylize::{Config, Preset};
use crate::vgg::Vgg;

/// What a run is asked to paint, before any image or model: the same for every face.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// The settings of every stage (the finish takes its own optimizer).
    pub config: Config,
    /// When each stage stops.
    pub stopping: Stopping,
    /// The sizes asked for.
    pub sizes: SizeRequest,
    /// The style images' size relative to the content's working size.
    pub style_scale: f32,
    /// The network asked for.
    pub model: ModelChoice,
    /// The preset the settings come from (`None`: changed by hand); only the default preset's
    /// runs are painted as the teacher's ladder ([`crate::ladder::LadderRecipe::applies`]).
    pub preset: Option<Preset>,
    /// How the teacher's ladder is painted where it applies: the product's is [`TEACHER_LADDER`]
    /// (the lab measures others).
    pub ladder: LadderRecipe,
}

/// Where a run paints, and what it paints with.
pub struct Site<'a> {
    /// The device.
    pub device: Device,
    /// The largest long side any run may have.
    pub cap: u32,
    /// The device's budget and the device in words ("this GPU"), where sizes are reduced to what
    /// it holds (the page); `None`: any size, tiled where it must be (natively).
    pub budget: Option<(&'a DeviceBudget, &'a str)>,
    /// The memory the teacher's finish may take, L-BFGS's history with it, where `auto` asks for
    /// it and the run's configuration names no limit (natively, half of what is free).
    pub finish_memory: Option<u64>,
    /// A model by kind (from a file, or what the page's engine holds), or why not
    /// ([`Error::ModelUnavailable`] where it is not there).
    pub load: &'a mut dyn FnMut(ModelKind) -> Result<Vgg>,
    /// Whether a finishing model still to come can be waited for (the page fetches it while the
    /// smaller sizes paint); where not, the run paints its last size without it.
    pub can_wait: bool,
}

/// The models that paint a run.
#[derive(Clone)]
pub struct Painters {
    /// The model of every stage but a finish's.
    pub model: Vgg,
    /// Its kind.
    pub kind: ModelKind,
    /// The last stage's model and optimizer, where they differ ([`Finish`]).
    pub finish: Option<Finish>,
    /// The teacher's finish applies, but its weights are not here and cannot be waited for: the
    /// run paints without it (the face says so).
    pub without_finish: bool,
}

/// An interrupted run to go on with: its last image, at a stage's size.
pub struct Resume {
    /// The image it reached.
    pub image: Image,
    /// Iterations done at that size.
    pub done: u32,
    /// A finished painting the time budget made smaller, going on to the sizes above it.
    pub onward: bool,
}

/// A run, built.
pub struct Built {
    /// The run.
    pub run: MultiScale,
    /// Why the size differs from the one asked for, if it does.
    pub notice: Option<String>,
    /// The kind of model that paints all but a finish.
    pub painter: ModelKind,
    /// The teacher's finish paints the last size.
    pub finishes: bool,
    /// The teacher's finish was left out: its weights are not here ([`Painters::without_finish`]).
    pub without_finish: bool,
}

impl RunSpec {
    /// Check the settings a person can get wrong, before any image is read.
    pub fn check(&self) -> Result<()> {
        self.config.validate()?;
        self.stopping.check()
    }

    /// The plan for `content` at most `cap` px: the ladder asked for, reduced to what `holder`
    /// holds (where given); for a resumed run ([`Resume`]), the stages it goes on with. Also the
    /// whole ladder, on which the models are decided. The photo is checked at the first size.
    pub fn plan(&self, content: &Decoded, cap: u32, holder: Option<Holder>, resume: Option<&Resume>) -> Result<(RunPlan, RunPlan)> {
        let photo = (content.width(), content.height());
        let resumed = match resume {
            None => None,
            Some(r) => {
                let side = r.image.width.max(r.image.height);
                let expected = image_io::working_size(photo.0, photo.1, side);
                if expected != (r.image.width, r.image.height) {
                    return Err(Error::InvalidConfig(format!(
                        "the image to resume from is {}x{}, the photo at that size is {}x{}",
                        r.image.width, r.image.height, expected.0, expected.1
                    )));
                }
                Some((side, r.done))
            }
        };
        let whole = RunPlan::new(self.sizes, photo, cap, holder, self.stopping, None)?;
        let plan = match (resume, resumed) {
            (Some(r), Some((side, _))) if r.onward => RunPlan::onward(&whole, side)?,
            (Some(_), Some(_)) => RunPlan::new(self.sizes, photo, cap, holder, self.stopping, resumed)?,
            _ => whole.clone(),
        };
        content.to_working(plan.sides[0], "the content image at this size").map_err(|e| e.about(Input::Content))?;
        Ok((plan, whole))
    }

    /// [`RunSpec::plan`] at `site`: within what its device holds, where it has a budget.
    pub fn plan_at(&self, content: &Decoded, site: &mut Site, resume: Option<&Resume>) -> Result<(RunPlan, RunPlan)> {
        let sizing = match site.budget {
            Some(_) => Some((site.load)(self.model.sizing())?),
            None => None,
        };
        let holder = match (site.budget, &sizing) {
            (Some((budget, name)), Some(model)) => Some(Holder { budget, model, name }),
            _ => None,
        };
        self.plan(content, site.cap, holder, resume)
    }

    /// The models that paint the ladder `sides` (a resumed run's whole ladder: its last stage,
    /// even alone, is then the teacher's finish) of a photo of `photo`. With `auto` the teacher's
    /// weights may be on their way: where the site can wait, the finish waits for them
    /// ([`MultiScale::finish_with`]); where not, the run paints without it.
    pub fn painters(&self, sides: &[u32], photo: (u32, u32), site: &mut Site) -> Result<Painters> {
        let room = match (self.model, self.config.max_memory_bytes) {
            (ModelChoice::Auto, None) => Config { max_memory_bytes: site.finish_memory, ..self.config.clone() },
            _ => self.config.clone(),
        };
        let (model, mut finish) = self.ladder.models(self.model, self.preset, &room, sides, photo, &mut *site.load)?;
        let without_finish = !site.can_wait && finish.as_ref().is_some_and(Finish::is_pending);
        if without_finish {
            finish = None;
        }
        let kind = if finish.is_some() { self.ladder.coarse } else { self.model.sizing() };
        Ok(Painters { model, kind, finish, without_finish })
    }

    /// The run of `content` in the style of `styles` (each with its blend weight) at `site`,
    /// fresh or going on from `resume`. The photo's size is checked before a model is loaded
    /// (but the one a site's budget sizes the run by).
    pub fn build(&self, content: Decoded, styles: Vec<(Decoded, f32)>, site: &mut Site, resume: Option<Resume>) -> Result<Built> {
        self.check()?;
        let photo = (content.width(), content.height());
        let (plan, whole) = self.plan_at(&content, site, resume.as_ref())?;
        let mut painters = self.painters(&whole.sides, photo, site)?;
        if resume.is_some() && plan.sides.len() == 1 && painters.finish.as_ref().is_some_and(Finish::is_pending) {
            // Resumed at the last size with the teacher not here (the page tried to fetch it
            // first): nothing paints before that size, so it is painted without the finish.
            painters.finish = None;
            painters.kind = self.model.sizing();
        }
        // Going on at a larger size starts from the painting upsampled to it.
        let onward = match &resume {
            Some(r) if r.onward => {
                let (w, h) = image_io::working_size(photo.0, photo.1, plan.sides[0]);
                Some(r.image.resized(w, h))
            }
            _ => None,
        };
        let start = match (&onward, &resume) {
            (Some(image), _) => Some((image, 0)),
            (None, Some(r)) => Some((&r.image, plan.stage_done)),
            (None, None) => None,
        };
        let Painters { model, kind, finish, without_finish } = painters;
        let finishes = finish.is_some();
        let run = MultiScale::new(
            self.config.clone(),
            content,
            styles,
            self.style_scale,
            plan.sides,
            self.stopping,
            model,
            finish,
            site.device.clone(),
            start,
        )?;
        Ok(Built { run, notice: plan.notice, painter: kind, finishes, without_finish })
    }
}
