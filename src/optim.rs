//! Optimizers over the image: only the image is a variable, so these work on one `[1, 3, H, W]`
//! tensor and its gradient, on the plain (non-autodiff) device. ([`Adam`] also takes a tensor of
//! any rank, unbounded: the lab fine-tunes weights with it.)

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

impl OptimizerKind {
    /// Both, in the order to offer them.
    pub const ALL: [OptimizerKind; 2] = [OptimizerKind::Adam, OptimizerKind::Lbfgs];
}

/// Pixel bounds: the image is projected back into 0..255 after every step. CS20 optimizes
/// without bounds and clips only when saving; projecting keeps every displayed iterate valid.
pub const PIXEL_RANGE: (f32, f32) = (0.0, 255.0);

/// Adam (Kingma & Ba 2015) with TensorFlow's defaults as used by CS20: β₁ 0.9, β₂ 0.999, ε 1e-8,
/// over one tensor of any rank: the image (rank 4, projected back into [`PIXEL_RANGE`] after every
/// step: [`Adam::for_pixels`]) or, in the lab's fine-tuning, a weight or a bias (unbounded).
#[derive(Clone, Debug)]
pub struct Adam<const D: usize = 4> {
    lr: f32,
    bounds: Option<(f32, f32)>,
    m: Option<Tensor<D>>,
    v: Option<Tensor<D>>,
    t: i32,
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPS: f32 = 1e-8;

impl Adam<4> {
    /// Adam over the image with learning rate `lr` (0..255 pixel units per step), every iterate
    /// projected into [`PIXEL_RANGE`].
    pub fn for_pixels(lr: f32) -> Self {
        Adam { bounds: Some(PIXEL_RANGE), ..Adam::unbounded(lr) }
    }
}

impl<const D: usize> Adam<D> {
    /// Adam with learning rate `lr` and no bounds (weights; an image takes [`Adam::for_pixels`]).
    pub fn unbounded(lr: f32) -> Self {
        Adam { lr, bounds: None, m: None, v: None, t: 0 }
    }

    /// Change the learning rate from the next step on (schedules).
    pub fn set_learning_rate(&mut self, lr: f32) {
        self.lr = lr;
    }

    /// The next iterate.
    pub fn step(&mut self, x: Tensor<D>, g: Tensor<D>) -> Tensor<D> {
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
        let next = x - update;
        match self.bounds {
            Some((lo, hi)) => next.clamp(lo, hi),
            None => next,
        }
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

#[cfg(all(test, not(target_family = "wasm")))] // (read_sync is native)
mod tests {
    use burn::tensor::{Tensor, TensorData};

    use super::*;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        crate::device::read_sync(t).unwrap()
    }

    /// Adam's first step moves every element by the learning rate against its gradient's sign
    /// (m/√v = sign(g) after bias correction); over pixels the iterate is then projected.
    #[test]
    fn the_first_step_is_the_learning_rate_against_the_gradient_and_pixels_stay_in_range() {
        let device = crate::device::cpu();
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![0.0f32, 100.0, 250.0], [1, 1, 1, 3]),
            &device,
        );
        let g = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, -3.0, -0.5], [1, 1, 1, 3]),
            &device,
        );
        let close = |a: Vec<f32>, b: [f32; 3]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-3);
        let free = values(Adam::unbounded(10.0).step(x.clone(), g.clone()));
        assert!(close(free.clone(), [-10.0, 110.0, 260.0]), "{free:?}");
        let pixels = values(Adam::for_pixels(10.0).step(x, g));
        assert!(close(pixels.clone(), [0.0, 110.0, 255.0]), "{pixels:?}");
        // A weight vector (rank 1) with a learning rate changed mid-run.
        let w = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 1.0], [2]), &device);
        let gw = Tensor::<1>::from_data(TensorData::new(vec![2.0f32, -2.0], [2]), &device);
        let mut adam = Adam::unbounded(0.5);
        let w = adam.step(w, gw.clone());
        adam.set_learning_rate(0.25);
        let w = values(adam.step(w, gw));
        assert!(
            (w[0] - 0.25).abs() < 1e-3 && (w[1] - 1.75).abs() < 1e-3,
            "{w:?}"
        );
    }
}
