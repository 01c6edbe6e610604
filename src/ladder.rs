//! The default recipe of a coarse-to-fine run: which model paints which stage, and how its last
//! stage is painted ([`TEACHER_LADDER`]); [`crate::multiscale`] runs it.

use crate::budget::Footprint;
use crate::error::{Error, Result};
use crate::image_io;
use crate::models::{ModelChoice, ModelKind};
use crate::optim::OptimizerKind;
use crate::stopping::StopRule;
use crate::stylize::{Config, Preset};
use crate::vgg::{TeacherShape, Vgg};

/// The last stage of a coarse-to-fine run, where it is painted differently from the others: its
/// model, its optimizer (at that optimizer's default learning rate) and, in a run that stops by
/// itself, its stopping rule and that of the stages before it.
#[derive(Clone, Debug)]
pub struct Finish {
    /// The feature extractor of the last stage, the teacher (`None`: still to come, given with
    /// [`crate::multiscale::MultiScale::finish_with`] before the last stage begins; the page fetches it while the
    /// smaller sizes paint).
    pub model: Option<Vgg>,
    /// Its optimizer.
    pub optimizer: OptimizerKind,
    /// When it stops, where the run stops by itself.
    pub rule: StopRule,
    /// When each stage before it stops, where the run stops by itself (`None`: the run's rule).
    pub coarse_rule: Option<StopRule>,
}

/// How a coarse-to-fine run with the teacher is painted ([`TEACHER_LADDER`]).
#[derive(Clone, Copy, Debug)]
pub struct LadderRecipe {
    /// The model of the stages before the last.
    pub coarse: ModelKind,
    /// The last stage's optimizer.
    pub optimizer: OptimizerKind,
    /// The last stage's stopping rule.
    pub rule: StopRule,
    /// The stopping rule of the stages before the last (`None`: the run's).
    pub coarse_rule: Option<StopRule>,
    /// Painted whatever the picture settings, not only the default preset's: how the lab measures
    /// a candidate default (a content weight swept). The product's: false.
    pub any_picture: bool,
}

impl Finish {
    /// Whether its model is still to come.
    pub fn is_pending(&self) -> bool {
        self.model.is_none()
    }
}

impl LadderRecipe {
    /// The last stage of this recipe, painted with `teacher` (`None`: still to come).
    pub fn finish(&self, teacher: Option<Vgg>) -> Finish {
        Finish { model: teacher, optimizer: self.optimizer, rule: self.rule, coarse_rule: self.coarse_rule }
    }

    /// Whether a run asked of the teacher (`teacher`) with `config`, from the settings of
    /// `preset` (`None`: changed by hand), over the ladder `sides` (smallest first; a resumed
    /// run's whole ladder) of a `width`×`height` photo paints this way where the recipe was
    /// measured: more than one size, or one of at least [`crate::multiscale::SMALLEST_STAGE`]
    /// ([`crate::multiscale::MultiScale`] paints it first with the coarse model); the default
    /// preset and its picture settings ([`crate::settings::PictureSetting`]; the CS20 preset has
    /// the same settings but is CS20's recipe) and a last size painted whole on this device with L-BFGS's history beside it (ten pairs of
    /// whole images, [`crate::budget::lbfgs_bytes`]: not for tiled print sizes). How the CLI and
    /// the page decide ([`LadderRecipe::models`]).
    pub fn applies(
        &self,
        teacher: &impl Footprint,
        preset: Option<Preset>,
        config: &Config,
        sides: &[u32],
        (width, height): (u32, u32),
    ) -> bool {
        let Some(&last) = sides.last() else { return false };
        let (w, h) = image_io::working_size(width, height, last);
        let memory = config.max_memory_bytes.map(|m| m.saturating_sub(crate::budget::lbfgs_bytes(w, h)));
        let whole = crate::budget::tile_core(teacher, w as usize, h as usize, config.tile, config.max_buffer_bytes, memory).is_none();
        // One size where it was measured: from SMALLEST_STAGE up.
        let sized = sides.len() > 1 || last >= crate::multiscale::SMALLEST_STAGE;
        preset == Some(Preset::DEFAULT) && (self.any_picture || Preset::DEFAULT.pictures(config)) && sized && whole
    }

    /// The model that paints a run asked of `asked` ([`ModelChoice`]) and its finishing stage:
    /// where [`LadderRecipe::applies`] holds for the teacher, [`LadderRecipe::coarse`] for the
    /// smaller sizes and the teacher for the last; otherwise the model asked for alone (the
    /// distilled one for [`ModelChoice::Auto`]). `load` gives a model by kind (from a file, or
    /// what the page's engine holds), or says why not; where [`ModelChoice::Auto`]'s teacher is
    /// not there ([`Error::ModelUnavailable`]: no file; not yet in the page's engine), its finish
    /// is still to come ([`Finish::is_pending`]) — a caller that cannot fetch it paints without.
    pub fn models(
        &self,
        asked: ModelChoice,
        preset: Option<Preset>,
        config: &Config,
        sides: &[u32],
        photo: (u32, u32),
        load: &mut dyn FnMut(ModelKind) -> Result<Vgg>,
    ) -> Result<(Vgg, Option<Finish>)> {
        match asked {
            ModelChoice::Distilled => Ok((load(ModelKind::Distilled)?, None)),
            ModelChoice::Teacher => {
                let teacher = load(ModelKind::Teacher)?;
                if self.applies(&teacher, preset, config, sides, photo) {
                    Ok((load(self.coarse)?, Some(self.finish(Some(teacher)))))
                } else {
                    Ok((teacher, None))
                }
            }
            ModelChoice::Auto => {
                let coarse = load(self.coarse)?;
                // Decided on the teacher's shape: its weights may be on their way.
                if self.applies(&TeacherShape { conv: coarse.conv }, preset, config, sides, photo) {
                    let teacher = match load(ModelKind::Teacher) {
                        Ok(teacher) => Some(teacher),
                        Err(Error::ModelUnavailable(_)) => None,
                        Err(e) => return Err(e),
                    };
                    Ok((coarse, Some(self.finish(teacher))))
                } else {
                    Ok((coarse, None))
                }
            }
        }
    }
}

/// A coarse-to-fine run with the teacher: the stages before the last with the distilled model
/// (at most 100 iterations each, by the default rule), the last with the teacher by L-BFGS, run
/// close to convergence; a run of one size is painted there first by the distilled model.
/// Departure from a plain ladder (one model, one optimizer): the teacher paints only the size
/// that costs most, and L-BFGS converges in far fewer iterations than Adam; with the default
/// preset's α its minimum is CS20's look (BENCHMARKS.md "Choosing the ladder", "The photo
/// survives", "The one-size path at 128 px").
pub const TEACHER_LADDER: LadderRecipe = LadderRecipe {
    coarse: ModelKind::Distilled,
    optimizer: OptimizerKind::Lbfgs,
    // Until the loss falls less than 1 % a step over 10: with the default preset's α the
    // minimum is CS20's look, and by then the painting is at CS20's quality; 3 % left some
    // paintings unfinished.
    rule: StopRule { window: 10, tolerance: 1e-2, min_iterations: 20, max_iterations: 600 },
    coarse_rule: Some(StopRule { window: 20, tolerance: 4e-3, min_iterations: 40, max_iterations: 100 }),
    any_picture: false,
};
