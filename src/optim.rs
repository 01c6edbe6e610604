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

/// How much the loss may grow over one L-BFGS step before the step is taken back
/// ([`Lbfgs::step`]). Not torch's: without a line search its steps can overshoot by orders of
/// magnitude (a 125× rise at 1024 px that left the photo's light and dark swapped, BENCHMARKS.md
/// "1024 px"); the small rises a run recovers from by itself are left alone.
pub const BLOW_UP: f32 = 2.0;

/// The length of a first step along −g with ‖g‖₁ = `gabs` (torch's min(1, 1/‖g‖₁)·lr).
fn first_step(gabs: f32, lr: f32) -> f32 {
    (1.0f32).min(1.0 / gabs.max(f32::MIN_POSITIVE)) * lr
}

/// L-BFGS (Nocedal 1980) in the form of torch's `optim.lbfgs` without line search, which
/// jcjohnson/neural-style uses: learning rate 1, first step scaled by min(1, 1/‖g‖₁), a curvature
/// pair kept only when yᵀs > 1e-10, initial Hessian yᵀs/yᵀy. Departures: the history holds
/// [`Lbfgs::DEFAULT_HISTORY`] pairs, not torch's 100 (two full images each, which a browser GPU
/// cannot spare at large sizes), and `s` is the step actually taken after projection to the
/// pixel range, and a step that multiplies the loss by more than [`BLOW_UP`] is taken back: from
/// the last accepted iterate, a first step again, at half the learning rate ([`Lbfgs::step`]).
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
    /// The last iterate whose loss was accepted, and that loss: where a step that blew up goes
    /// back to.
    prev_x: Option<(Tensor<4>, f32)>,
    /// ‖g‖₁ at that iterate.
    prev_gabs: f32,
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
            prev_x: None,
            prev_gabs: 0.0,
        }
    }

    /// The last iterate whose loss was measured and accepted (`None` before the first step).
    pub fn accepted(&self) -> Option<&Tensor<4>> {
        self.prev_x.as_ref().map(|(x, _)| x)
    }

    /// [`Lbfgs::accepted`], to end a run on: the step proposed after it is forgotten, so that a
    /// run that goes on from there takes a first step again (its history kept).
    pub fn settle(&mut self) -> Option<Tensor<4>> {
        self.last_step = None;
        self.accepted().cloned()
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

    /// The next iterate, given the loss and gradient `g` at `x` and `scalars` =
    /// [`Lbfgs::scalars`]`(g)` read back. Where the loss is more than [`BLOW_UP`] times the last
    /// accepted iterate's, `x` is dropped: from that iterate, with its gradient, the history is
    /// cleared and a first step taken again, the learning rate halved from then on. Halving the
    /// step alone with the history kept is not enough: at 1024 px the next quasi-Newton steps blew
    /// up again, each time, until the stopping rule gave up (BENCHMARKS.md "The L-BFGS guard").
    pub fn step(&mut self, x: Tensor<4>, g: Tensor<4>, scalars: [f32; 3], loss: f32) -> Tensor<4> {
        let [ys, yy, gabs] = scalars;
        if let Some((px, ploss)) = &self.prev_x
            && loss > BLOW_UP * ploss
            && let Some(pg) = self.prev_g.take()
        {
            self.s.clear();
            self.y.clear();
            self.rho.clear();
            self.h_diag = 1.0;
            self.lr *= 0.5;
            let next = (px.clone() - pg.clone().mul_scalar(first_step(self.prev_gabs, self.lr))).clamp(PIXEL_RANGE.0, PIXEL_RANGE.1);
            self.last_step = Some(next.clone() - px.clone());
            self.prev_g = Some(pg);
            return next;
        }
        self.prev_x = Some((x.clone(), loss));
        self.prev_gabs = gabs;
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
            _ => (g.clone().neg(), first_step(gabs, self.lr)),
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

    /// A step that more than doubles the loss is taken back: from the last accepted iterate, a
    /// first step again at half the learning rate, halved again while the loss stays too high,
    /// the history cleared; a smaller rise is accepted, and the history then holds only the step
    /// actually kept (one curvature pair: the two-loop recursion written out by hand).
    #[test]
    fn a_step_that_blows_up_the_loss_is_taken_back_to_the_last_iterate() {
        let device = crate::device::cpu();
        let t = |v: &[f32]| Tensor::<4>::from_data(TensorData::new(v.to_vec(), [1, 1, 1, 3]), &device);
        let read = |lbfgs: &Lbfgs, g: &Tensor<4>| -> [f32; 3] { values(lbfgs.scalars(g)).try_into().unwrap() };
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-4);
        let mut lbfgs = Lbfgs::new(1.0, 4);
        let step = |lbfgs: &mut Lbfgs, x: &[f32], g: &[f32], loss: f32| {
            let sc = read(lbfgs, &t(g));
            values(lbfgs.step(t(x), t(g), sc, loss))
        };
        // The first step: −g scaled by min(1, 1/‖g‖₁) = 1/2.
        let (x0, g0) = ([100.0f32, 100.0, 100.0], [0.5f32, -1.0, 0.5]);
        let x1 = step(&mut lbfgs, &x0, &g0, 10.0);
        assert!(close(&x1, &[99.75, 100.5, 99.75]), "{x1:?}");
        // A lower loss: accepted, a curvature pair into the history, a quasi-Newton step.
        let g1 = [0.25f32, -0.5, 0.5];
        let x2 = step(&mut lbfgs, &x1, &g1, 8.0);
        // 100× the loss: from x1 a first step again, at half the learning rate
        // (‖g1‖₁ = 1.25: −g1·0.8·0.5).
        let x3 = step(&mut lbfgs, &x2, &[9.0, 9.0, 9.0], 800.0);
        assert!(close(&x3, &[99.65, 100.7, 99.55]), "{x3:?}");
        // Still 2.5× x1's: at a quarter.
        let x4 = step(&mut lbfgs, &x3, &[3.0, 3.0, 3.0], 20.0);
        assert!(close(&x4, &[99.7, 100.6, 99.65]), "{x4:?}");
        let kept = values(lbfgs.accepted().cloned().expect("an accepted iterate"));
        assert!(close(&kept, &x1), "the iterate gone back to: {kept:?}");
        // 1.5×: accepted. The history holds only (x4 − x1, g4 − g1); one step from x4 at a
        // quarter of the learning rate.
        let g4 = [0.5f32, -0.25, 0.25];
        let x5 = step(&mut lbfgs, &x4, &g4, 12.0);
        let s: Vec<f32> = x4.iter().zip(&x1).map(|(a, b)| a - b).collect();
        let y: Vec<f32> = g4.iter().zip(g1).map(|(a, b)| a - b).collect();
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f32>();
        let (ys, yy) = (dot(&y, &s), dot(&y, &y));
        assert!(ys > 1e-10, "a pair the recursion keeps");
        let rho = 1.0 / ys;
        let mut q: Vec<f32> = g4.iter().map(|g| -g).collect();
        let a = rho * dot(&s, &q);
        q.iter_mut().zip(&y).for_each(|(q, y)| *q -= a * y);
        let mut r: Vec<f32> = q.iter().map(|q| q * ys / yy).collect();
        let b = rho * dot(&y, &r);
        r.iter_mut().zip(&s).for_each(|(r, s)| *r += s * (a - b));
        let want: Vec<f32> = x4.iter().zip(&r).map(|(x, r)| (x + 0.25 * r).clamp(PIXEL_RANGE.0, PIXEL_RANGE.1)).collect();
        assert!(close(&x5, &want), "{x5:?} against {want:?}");
    }
}
