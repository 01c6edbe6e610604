//! A run's settings as a person gives them, one definition for every face: [`RunOptions`] is
//! the CLI's options (clap) and the page's (serde), each with its default and its one line of
//! help; the core resolves them against their preset and checks their bounds. Also which of them
//! shape the picture ([`PictureSetting`]): the one list every face asks whether a preset's
//! settings were changed by hand.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::image_io;
use crate::loss::LossWeights;
use crate::models::ModelChoice;
use crate::multiscale::{DEFAULT_SIZE, DEFAULT_STYLE_SCALE};
use crate::optim::OptimizerKind;
use crate::stopping::Stopping;
use crate::stylize::{Config, Init, Preset};
use crate::vgg::Pooling;

/// How long each size is painted, as a person asks: a count, or `auto` (until the loss stops
/// improving, [`crate::stopping`]). The page sends `null` for `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Iterations {
    /// Until the loss stops improving.
    Auto,
    /// Exactly this many.
    Count(u32),
}

impl Iterations {
    /// When a stage of the run stops.
    pub fn stopping(self) -> Stopping {
        match self {
            Iterations::Auto => Stopping::from_iterations(None),
            Iterations::Count(n) => Stopping::Fixed(n),
        }
    }
}

impl std::str::FromStr for Iterations {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.trim() {
            "auto" => Ok(Iterations::Auto),
            t => t.parse().map(Iterations::Count).map_err(|_| format!("{text:?} is not a count of iterations or auto")),
        }
    }
}

impl Serialize for Iterations {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Iterations::Auto => s.serialize_none(),
            Iterations::Count(n) => s.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Iterations {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(Option::<u32>::deserialize(d)?.map_or(Iterations::Auto, Iterations::Count))
    }
}

/// A key given as `null` is `Some(Iterations::Auto)`; a key left out is `None` (the preset's).
fn given<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Iterations>, D::Error> {
    Iterations::deserialize(d).map(Some)
}

/// The settings of a run a person gives, on the command line (`impasto stylize`, `impasto film`)
/// and in the page (the options object its form makes, camelCase). A setting left out is its
/// preset's. The doc comment of each field is its help.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::Args))]
#[cfg_attr(not(target_family = "wasm"), command(next_help_heading = "Settings of the run"))]
#[serde(rename_all = "camelCase", default)]
pub struct RunOptions {
    /// Named settings (start image, weights, smoothing, when to stop); the options below
    /// override single settings of it.
    #[cfg_attr(not(target_family = "wasm"), arg(long, value_enum, default_value = Preset::DEFAULT.name()))]
    // The page sends `null` for settings changed by hand (its preset select says Custom).
    pub preset: Option<Preset>,
    /// Feature extractor. auto (the default): coarse to fine with the default preset, the
    /// distilled VGG paints the smaller sizes and the VGG16 teacher the last by L-BFGS (CS20's
    /// look in about a fifth of its time), where the teacher is installed (`impasto
    /// fetch-teacher`) and holds the last size whole; otherwise the distilled model alone.
    /// distilled: the distilled model at every size. teacher: its ladder where auto would use it,
    /// otherwise the teacher at every size (another preset; a setting of the picture named:
    /// --optimizer, --learning-rate, the weights, --init, --noise-ratio or --pooling; --one-size;
    /// or a last size computed in tiles: over 2048×2048 px, or a --tile smaller than it).
    #[cfg_attr(not(target_family = "wasm"), arg(long, value_enum, default_value_t = ModelChoice::default()))]
    pub model: ModelChoice,
    /// The result's long side in pixels (aspect kept; the style image is resized to the
    /// content's working size, as CS20 does), painted as the preset paints it: coarse to fine —
    /// a quarter, a half and the full size (stages under 128 px skipped), each continuing from
    /// the last one's result upsampled — except with --preset cs20 or --one-size, which paint
    /// the one size. A timelapse keeps the first stage's size. [default: 512]
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// Iterations at each size, or auto: the run stops by itself when the loss stops improving
    /// (impasto::stopping). Default: the preset's (auto, except --preset cs20: 300).
    #[cfg_attr(not(target_family = "wasm"), arg(long, value_name = "N|auto"))]
    #[serde(deserialize_with = "given", skip_serializing_if = "Option::is_none")]
    pub iterations: Option<Iterations>,
    /// Optimizer (default: the preset's; CS20: adam).
    #[cfg_attr(not(target_family = "wasm"), arg(long, value_enum))]
    pub optimizer: Option<OptimizerKind>,
    /// Learning rate (default: 2.0 for Adam as CS20, 1.0 for L-BFGS).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub learning_rate: Option<f32>,
    /// α, weight of the content loss (default: the preset's; CS20: 0.01).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub content_weight: Option<f32>,
    /// β, weight of the style loss (default: the preset's; CS20: 1).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub style_weight: Option<f32>,
    /// γ, weight of total variation (default: the preset's; CS20: 0).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub tv_weight: Option<f32>,
    /// Start image (default: the preset's; CS20: noise-mix).
    #[cfg_attr(not(target_family = "wasm"), arg(long, value_enum))]
    pub init: Option<Init>,
    /// Share of noise in the noise-mix start image (default: the preset's; CS20: 0.6).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub noise_ratio: Option<f32>,
    /// Pooling between VGG blocks (default: the preset's; CS20: avg).
    #[cfg_attr(not(target_family = "wasm"), arg(long, value_enum))]
    pub pooling: Option<Pooling>,
    /// Seed of the start noise (default: the preset's, 0).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub seed: Option<u64>,
    /// Keep the content's colours (luminance-only transfer).
    #[cfg_attr(not(target_family = "wasm"), arg(long))]
    pub original_colors: bool,
    /// Style image size relative to the content's working size: larger paints larger strokes.
    #[cfg_attr(not(target_family = "wasm"), arg(long, default_value_t = DEFAULT_STYLE_SCALE))]
    pub style_scale: f32,
}

impl Default for RunOptions {
    /// The default preset, nothing else given.
    fn default() -> Self {
        RunOptions {
            preset: Some(Preset::DEFAULT),
            model: ModelChoice::default(),
            size: None,
            iterations: None,
            optimizer: None,
            learning_rate: None,
            content_weight: None,
            style_weight: None,
            tv_weight: None,
            init: None,
            noise_ratio: None,
            pooling: None,
            seed: None,
            original_colors: false,
            style_scale: DEFAULT_STYLE_SCALE,
        }
    }
}

impl RunOptions {
    /// The preset the settings start from (changed by hand: the default one's).
    pub fn base(&self) -> Preset {
        self.preset.unwrap_or(Preset::DEFAULT)
    }

    /// The size asked for.
    pub fn size(&self) -> u32 {
        self.size.unwrap_or(DEFAULT_SIZE)
    }

    /// The preset's settings, each given one in its place (a learning rate not given is the
    /// preset's, or an optimizer's own where the optimizer is given).
    pub fn config(&self) -> Config {
        let preset = self.base().config().0;
        let w = preset.weights;
        let optimizer = self.optimizer.unwrap_or(preset.optimizer);
        let learning_rate = match (self.learning_rate, self.optimizer) {
            (Some(lr), _) => lr,
            (None, Some(_)) => Config::default_learning_rate(optimizer),
            (None, None) => preset.learning_rate,
        };
        Config {
            weights: LossWeights {
                content: self.content_weight.unwrap_or(w.content),
                style: self.style_weight.unwrap_or(w.style),
                tv: self.tv_weight.unwrap_or(w.tv),
            },
            optimizer,
            learning_rate,
            init: self.init.unwrap_or(preset.init),
            noise_ratio: self.noise_ratio.unwrap_or(preset.noise_ratio),
            pooling: self.pooling.unwrap_or(preset.pooling),
            seed: self.seed.unwrap_or(preset.seed),
            original_colors: self.original_colors,
            ..preset
        }
    }

    /// When each size stops: as given, else the preset's.
    pub fn stopping(&self) -> Stopping {
        self.iterations.map_or(self.base().config().1, Iterations::stopping)
    }

    /// Whether `setting` is given (not left to the preset).
    pub fn gives(&self, setting: PictureSetting) -> bool {
        match setting {
            PictureSetting::ContentWeight => self.content_weight.is_some(),
            PictureSetting::StyleWeight => self.style_weight.is_some(),
            PictureSetting::TvWeight => self.tv_weight.is_some(),
            PictureSetting::Optimizer => self.optimizer.is_some(),
            PictureSetting::LearningRate => self.learning_rate.is_some(),
            PictureSetting::Init => self.init.is_some(),
            PictureSetting::NoiseRatio => self.noise_ratio.is_some(),
            PictureSetting::Pooling => self.pooling.is_some(),
        }
    }

    /// Every setting given, each at its preset's value: what the page's form shows first.
    pub fn resolved(&self) -> RunOptions {
        let c = self.config();
        RunOptions {
            size: Some(self.size()),
            iterations: Some(self.stopping().fixed().map_or(Iterations::Auto, Iterations::Count)),
            optimizer: Some(c.optimizer),
            // An optimizer's own rate: the page sends none, so that a changed optimizer takes its own.
            learning_rate: None,
            content_weight: Some(c.weights.content),
            style_weight: Some(c.weights.style),
            tv_weight: Some(c.weights.tv),
            init: Some(c.init),
            noise_ratio: Some(c.noise_ratio),
            pooling: Some(c.pooling),
            seed: Some(c.seed),
            ..self.clone()
        }
    }

    /// Check the size asked for: within `MIN_SIDE..=cap` (the face's cap; `name`: the setting as
    /// the face names it). The rest is checked by [`crate::run::RunSpec::check`] and, the style
    /// scale, where the painting is resized ([`image_io::working_style`]).
    pub fn check_size(&self, cap: u32, name: &str) -> Result<()> {
        check_side(self.size(), cap, name)
    }
}

/// A long side within `MIN_SIDE..=cap`, or why not (`name`: the setting as the face names it).
pub fn check_side(side: u32, cap: u32, name: &str) -> Result<()> {
    if (image_io::MIN_SIDE..=cap).contains(&side) {
        Ok(())
    } else {
        Err(Error::InvalidConfig(format!("{name} must be between {} and {cap} pixels, not {side}", image_io::MIN_SIDE)))
    }
}

/// A setting that shapes the picture a preset stands for. A run that sets one by hand is no
/// longer its preset's recipe: the full-quality ladder is the default preset's
/// ([`crate::ladder::LadderRecipe::applies`]), measured with exactly these settings. Sizes,
/// iteration counts, the seed, the colours kept and the device's limits are not among them: they
/// choose how much is painted and where, not the balance of photo and painting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PictureSetting {
    /// α.
    ContentWeight,
    /// β.
    StyleWeight,
    /// γ.
    TvWeight,
    /// Adam or L-BFGS.
    Optimizer,
    /// The optimizer's step.
    LearningRate,
    /// The start image.
    Init,
    /// The share of noise in the start image.
    NoiseRatio,
    /// Average or max pooling.
    Pooling,
}

impl PictureSetting {
    /// Every one of them.
    pub const ALL: [PictureSetting; 8] = [
        PictureSetting::ContentWeight,
        PictureSetting::StyleWeight,
        PictureSetting::TvWeight,
        PictureSetting::Optimizer,
        PictureSetting::LearningRate,
        PictureSetting::Init,
        PictureSetting::NoiseRatio,
        PictureSetting::Pooling,
    ];

    /// Its name among [`RunOptions`]' fields as the page sends them (camelCase), and the CLI's
    /// `--kebab-case` of it.
    pub fn option(self) -> &'static str {
        match self {
            PictureSetting::ContentWeight => "contentWeight",
            PictureSetting::StyleWeight => "styleWeight",
            PictureSetting::TvWeight => "tvWeight",
            PictureSetting::Optimizer => "optimizer",
            PictureSetting::LearningRate => "learningRate",
            PictureSetting::Init => "init",
            PictureSetting::NoiseRatio => "noiseRatio",
            PictureSetting::Pooling => "pooling",
        }
    }

    /// Whether `a` and `b` agree on it.
    pub fn agree(self, a: &Config, b: &Config) -> bool {
        match self {
            PictureSetting::ContentWeight => a.weights.content == b.weights.content,
            PictureSetting::StyleWeight => a.weights.style == b.weights.style,
            PictureSetting::TvWeight => a.weights.tv == b.weights.tv,
            PictureSetting::Optimizer => a.optimizer == b.optimizer,
            PictureSetting::LearningRate => a.learning_rate == b.learning_rate,
            PictureSetting::Init => a.init == b.init,
            PictureSetting::NoiseRatio => a.noise_ratio == b.noise_ratio,
            PictureSetting::Pooling => a.pooling == b.pooling,
        }
    }
}

impl Preset {
    /// Whether `config` has this preset's picture settings ([`PictureSetting`]), whatever its
    /// sizes, seed, colours and limits.
    pub fn pictures(self, config: &Config) -> bool {
        let own = self.config().0;
        PictureSetting::ALL.iter().all(|s| s.agree(&own, config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A setting left out is its preset's; one given takes its place; the page's `null`s mean
    /// what they say (iterations: automatic; preset: changed by hand).
    #[test]
    fn options_resolve_against_their_preset() {
        let none = RunOptions::default();
        assert_eq!((none.config(), none.stopping()), Preset::DEFAULT.config());
        assert_eq!(none.size(), DEFAULT_SIZE);
        let cs20 = RunOptions { preset: Some(Preset::Cs20), ..RunOptions::default() };
        assert_eq!(cs20.stopping(), Stopping::Fixed(300));
        let auto = RunOptions { iterations: Some(Iterations::Auto), ..cs20.clone() };
        assert_eq!(auto.stopping(), Stopping::from_iterations(None));
        // An optimizer given takes its own learning rate; a rate given is kept.
        let lbfgs = RunOptions { optimizer: Some(OptimizerKind::Lbfgs), ..cs20.clone() };
        assert_eq!(lbfgs.config().learning_rate, Config::default_learning_rate(OptimizerKind::Lbfgs));
        let slow = RunOptions { learning_rate: Some(0.5), ..lbfgs.clone() };
        assert_eq!(slow.config().learning_rate, 0.5);
        for s in PictureSetting::ALL {
            assert!(!none.gives(s), "{s:?}");
        }
        assert!(lbfgs.gives(PictureSetting::Optimizer));
        // Every setting given at its preset's value paints the same picture.
        for p in Preset::ALL {
            let o = RunOptions { preset: Some(p), ..RunOptions::default() };
            let all = o.resolved();
            assert_eq!((all.config(), all.stopping()), (o.config(), o.stopping()), "{p:?}");
            assert!(PictureSetting::ALL.iter().all(|&s| all.gives(s) || s == PictureSetting::LearningRate), "{p:?}");
        }
        // As the page sends them.
        let read = |json: &str| serde_json::from_str::<RunOptions>(json).unwrap();
        assert_eq!(read("{}"), RunOptions::default());
        assert_eq!(read(r#"{"iterations": null}"#).iterations, Some(Iterations::Auto));
        assert_eq!(read(r#"{"iterations": 7}"#).iterations, Some(Iterations::Count(7)));
        assert_eq!(read(r#"{"preset": null}"#).preset, None);
        assert_eq!(read(r#"{"preset": "cs20", "styleScale": 2}"#), RunOptions { style_scale: 2.0, ..cs20.clone() });
        let back = read(&serde_json::to_string(&cs20.resolved()).unwrap());
        assert_eq!(back, cs20.resolved());
        assert!(serde_json::from_str::<RunOptions>(r#"{"preset": "loud"}"#).is_err());
        // Each picture setting's name is the options' own.
        let keys = serde_json::to_value(none.resolved()).unwrap();
        for s in PictureSetting::ALL {
            assert!(keys.get(s.option()).is_some(), "{s:?}: {} is not an option", s.option());
        }
        // As the CLI reads `--iterations`.
        assert_eq!("auto".parse(), Ok(Iterations::Auto));
        assert_eq!("300".parse(), Ok(Iterations::Count(300)));
        assert!("-1".parse::<Iterations>().is_err());
        // The size within the face's cap.
        assert!(RunOptions { size: Some(4096), ..none.clone() }.check_size(4096, "size").is_ok());
        let err = RunOptions { size: Some(4097), ..none.clone() }.check_size(4096, "--size").unwrap_err().to_string();
        assert!(err.contains("--size must be between 16 and 4096 pixels, not 4097"), "{err}");
    }

    /// Every field of [`Config`] is either a picture setting or named here as not one: a field
    /// added to `Config` fails to compile until it is sorted into one or the other.
    #[test]
    fn every_config_field_is_sorted() {
        let Config {
            weights: _,
            optimizer: _,
            learning_rate: _,
            init: _,
            noise_ratio: _,
            pooling: _,
            // Not picture settings: how the noise falls, the colours kept, and how the device
            // computes it.
            seed: _,
            original_colors: _,
            tile: _,
            max_buffer_bytes: _,
            max_memory_bytes: _,
        } = Config::default();
        let c = Config::default();
        for s in PictureSetting::ALL {
            assert!(s.agree(&c, &c), "{s:?}");
        }
        let changed = [
            Config { weights: crate::loss::LossWeights { content: 1.0, ..c.weights }, ..c.clone() },
            Config { weights: crate::loss::LossWeights { style: 2.0, ..c.weights }, ..c.clone() },
            Config { weights: crate::loss::LossWeights { tv: 1.0, ..c.weights }, ..c.clone() },
            Config { optimizer: crate::optim::OptimizerKind::Lbfgs, ..c.clone() },
            Config { learning_rate: 1.0, ..c.clone() },
            Config { init: crate::stylize::Init::Content, ..c.clone() },
            Config { noise_ratio: 0.1, ..c.clone() },
            Config { pooling: crate::vgg::Pooling::Max, ..c.clone() },
        ];
        for (s, other) in PictureSetting::ALL.into_iter().zip(&changed) {
            assert!(!s.agree(&c, other), "{s:?} sees its own change");
            assert_eq!(PictureSetting::ALL.iter().filter(|t| !t.agree(&c, other)).count(), 1, "{s:?} alone");
        }
        let kept = Config { seed: 7, original_colors: true, tile: Some(64), max_buffer_bytes: Some(1), max_memory_bytes: Some(1), ..c.clone() };
        assert!(Preset::Cs20.pictures(&kept), "sizes, seed, colours and limits keep the preset");
        assert!(!Preset::Cs20.pictures(&changed[0]));
    }
}
