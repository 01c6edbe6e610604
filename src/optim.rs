//! Optimizers over the image: only the image is a variable, so these work on one `[1, 3, H, W]`
//! tensor and its gradient, on the plain (non-autodiff) device.

use std::collections::VecDeque;

use burn::tensor::Tensor;

/// Which optimizer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam, CS20's choice (lr 2.0 on the 0..255 scale).
    #[default]
    Adam,
    /// L-BFGS without line search, as jcjohnson/neural-style runs torch's `optim.lbfgs`.
    Lbfgs,
}

/// Pixel bounds: the image is projected back into 0..255 after every step. CS20 optimizes
/// without bounds and clips only when saving; projecting keeps every displayed iterate valid.
pub const PIXEL_RANGE: (f32, f32) = (0.0, 255.0);

/// Adam (Kingma & Ba 2015) with TensorFlow's defaults as used by CS20: β₁ 0.9, β₂ 0.999, ε 1e-8.
#[derive(Clone, Debug)]
pub struct Adam {
    lr: f32,
    m: Option<Tensor<4>>,
    v: Option<Tensor<4>>,
    t: i32,
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPS: f32 = 1e-8;

impl Adam {
    /// Adam with learning rate `lr` (0..255 pixel units per step).
    pub fn new(lr: f32) -> Self {
        Adam { lr, m: None, v: None, t: 0 }
    }

    /// The next iterate.
    pub fn step(&mut self, x: Tensor<4>, g: Tensor<4>) -> Tensor<4> {
        self.t += 1;
        let m = match self.m.take() {
            Some(m) => m.mul_scalar(BETA1) + g.clone().mul_scalar(1.0 - BETA1),
            None => g.clone().mul_scalar(1.0 - BETA1),
        };
        let v = match self.v.take() {
            Some(v) => v.mul_scalar(BETA2) + g.square().mul_scalar(1.0 - BETA2),
            None => g.square().mul_scalar(1.0 - BETA2),
        };
        // TensorFlow's form: lr_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ), step = lr_t·m/(√v + ε).
        let lr_t = self.lr * (1.0 - BETA2.powi(self.t)).sqrt() / (1.0 - BETA1.powi(self.t));
        let update = m.clone().div(v.clone().sqrt().add_scalar(EPS)).mul_scalar(lr_t);
        self.m = Some(m);
        self.v = Some(v);
        (x - update).clamp(PIXEL_RANGE.0, PIXEL_RANGE.1)
    }
}

/// L-BFGS (Nocedal 1980) in the form of torch's `optim.lbfgs` without line search, which
/// jcjohnson/neural-style uses: learning rate 1, first step scaled by min(1, 1/‖g‖₁), a curvature
/// pair kept only when yᵀs > 1e-10, initial Hessian yᵀs/yᵀy. Departures: the history holds
/// [`Lbfgs::DEFAULT_HISTORY`] pairs, not torch's 100 (two full images each, which a browser GPU
/// cannot spare at large sizes), and `s` is the step actually taken after projection to the
/// pixel range.
///
/// The two-loop recursion runs on the device with one-element tensors; only yᵀs, yᵀy and ‖g‖₁
/// are read back, with the loss, once per iteration ([`Lbfgs::scalars`]).
#[derive(Clone, Debug)]
pub struct Lbfgs {
    lr: f32,
    history: usize,
    s: VecDeque<Tensor<4>>,
    y: VecDeque<Tensor<4>>,
    rho: VecDeque<f32>,
    h_diag: f32,
    prev_g: Option<Tensor<4>>,
    last_step: Option<Tensor<4>>,
}

impl Lbfgs {
    /// Curvature pairs kept by default.
    pub const DEFAULT_HISTORY: usize = 10;

    /// L-BFGS with learning rate `lr` and `history` curvature pairs.
    pub fn new(lr: f32, history: usize) -> Self {
        Lbfgs {
            lr,
            history: history.max(1),
            s: VecDeque::new(),
            y: VecDeque::new(),
            rho: VecDeque::new(),
            h_diag: 1.0,
            prev_g: None,
            last_step: None,
        }
    }

    /// `[yᵀs, yᵀy, ‖g‖₁]` for gradient `g`: read back with the loss, then passed to
    /// [`Lbfgs::step`].
    pub fn scalars(&self, g: &Tensor<4>) -> Tensor<1> {
        let gabs = g.clone().abs().sum();
        match (&self.prev_g, &self.last_step) {
            (Some(p), Some(s)) => {
                let y = g.clone() - p.clone();
                let ys = (y.clone() * s.clone()).sum();
                let yy = y.square().sum();
                Tensor::cat(vec![ys, yy, gabs], 0)
            }
            _ => Tensor::cat(vec![gabs.zeros_like(), gabs.zeros_like(), gabs], 0),
        }
    }

    /// The next iterate, given gradient `g` at `x` and `scalars` = [`Lbfgs::scalars`]`(g)` read
    /// back.
    pub fn step(&mut self, x: Tensor<4>, g: Tensor<4>, scalars: [f32; 3]) -> Tensor<4> {
        let [ys, yy, gabs] = scalars;
        let (direction, t) = match (self.prev_g.take(), self.last_step.take()) {
            (Some(prev), Some(s)) => {
                if ys > 1e-10 {
                    if self.s.len() == self.history {
                        self.s.pop_front();
                        self.y.pop_front();
                        self.rho.pop_front();
                    }
                    self.s.push_back(s);
                    self.y.push_back(g.clone() - prev);
                    self.rho.push_back(1.0 / ys);
                    self.h_diag = ys / yy;
                }
                let mut q = g.clone().neg();
                let mut alphas = Vec::with_capacity(self.s.len());
                for i in (0..self.s.len()).rev() {
                    let a = (self.s[i].clone() * q.clone()).sum().mul_scalar(self.rho[i]).reshape([1, 1, 1, 1]);
                    q = q - self.y[i].clone() * a.clone();
                    alphas.push(a);
                }
                alphas.reverse();
                let mut r = q.mul_scalar(self.h_diag);
                for (i, a) in alphas.into_iter().enumerate() {
                    let b = (self.y[i].clone() * r.clone()).sum().mul_scalar(self.rho[i]).reshape([1, 1, 1, 1]);
                    r = r + self.s[i].clone() * (a - b);
                }
                (r, self.lr)
            }
            _ => (g.clone().neg(), (1.0f32).min(1.0 / gabs.max(f32::MIN_POSITIVE)) * self.lr),
        };
        let next = (x.clone() + direction.mul_scalar(t)).clamp(PIXEL_RANGE.0, PIXEL_RANGE.1);
        self.last_step = Some(next.clone() - x);
        self.prev_g = Some(g);
        next
    }
}
