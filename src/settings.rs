//! Which of a run's settings shape the picture: the one list every face asks whether a preset's
//! settings were changed by hand (the CLI: an option named; the page: a field changed).

use crate::stylize::{Config, Preset};

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

    /// Its name among the options the page sends (`src/web/options.rs`), and the CLI's
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
