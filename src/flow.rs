//! Dense optical flow between two frames, on the painting's own backend, and what a film shot
//! needs from it: the previous painted frame carried along the motion, the mask of pixels whose
//! motion is known, and where the carried content is not the frame's ([`change`]).
//!
//! The flow is Horn & Schunck's (1981) — brightness constancy plus a smooth field, solved by
//! Jacobi iterations — coarse to fine with warping (Brox et al. 2004), so that motions of many
//! pixels are found: at each level of an image pyramid the second frame is warped by the flow so
//! far, and an increment is solved for, linearised around it. Plain tensor operations (a 3×3
//! convolution, elementwise arithmetic, bilinear sampling), so it runs wherever the painting
//! does, GPU or CPU. Measured against synthetic motion with known flow (tests/flow.rs).
//!
//! The mask is Ruder, Dosovitskiy & Brox's (2016, "Artistic style transfer for videos", §3.1):
//! a pixel of frame t is trusted where the backward flow (t → t−1) and the forward flow
//! (t−1 → t) undo each other, it is not on a motion boundary, and its source lies in the frame.

use burn::tensor::module::{conv2d, interpolate};
use burn::tensor::ops::{
    ConvOptions, GridSampleOptions, GridSamplePaddingMode, InterpolateMode, InterpolateOptions, PadMode,
};
use burn::tensor::{Tensor, TensorData};

/// Horn–Schunck's smoothness weight α², on intensities in 0..1 (α ≈ 25 on the 0..255 scale),
/// Jacobi iterations per warp, and warps per pyramid level (Brox et al.'s outer loop): chosen on
/// the synthetic motions of tests/flow.rs (end-point errors 0.09–0.30 px; α² 1.5e-3 gave 0.5 px
/// on a plain shift, 6e-2 blurred a moving square's flow into its background).
const ALPHA2: f32 = 1e-2;
const ITERATIONS: usize = 100;
const WARPS: usize = 5;
/// The pyramid's coarsest level is at least this many pixels a side.
const COARSEST: usize = 16;

/// A frame's luminance, 0..1, from an RGB image `[1, 3, H, W]` on 0..255 (Rec. 601 weights).
pub fn luminance(rgb: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = rgb.dims();
    let c = |k: usize, wt: f32| rgb.clone().narrow(1, k, 1).mul_scalar(wt / 255.0);
    (c(0, 0.299) + c(1, 0.587) + c(2, 0.114)).reshape([1, 1, h, w])
}

/// The 3×3 filters the flow uses, put on the device once per call (the Jacobi loop applies them
/// thousands of times).
struct Filters {
    /// Horn–Schunck's neighbourhood average (their eq. for ū: 1/6 the four neighbours, 1/12 the
    /// diagonals).
    neighbours: Tensor<4>,
    /// Central differences along x and y.
    dx: Tensor<4>,
    dy: Tensor<4>,
    /// A light blur (binomial 1-2-1 in each direction) before subsampling.
    blur: Tensor<4>,
}

impl Filters {
    fn new(device: &burn::tensor::Device) -> Filters {
        let k = |kernel: [f32; 9]| Tensor::from_data(TensorData::new(kernel.to_vec(), [1, 1, 3, 3]), device);
        let (a, b) = (1.0 / 12.0, 1.0 / 6.0);
        Filters {
            neighbours: k([a, b, a, b, 0.0, b, a, b, a]),
            dx: k([0.0, 0.0, 0.0, -0.5, 0.0, 0.5, 0.0, 0.0, 0.0]),
            dy: k([0.0, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0]),
            blur: k([1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0].map(|v| v / 16.0)),
        }
    }

    /// `x` (one channel, `[1, 1, H, W]`) filtered by `weight`, edges replicated.
    fn apply(x: Tensor<4>, weight: &Tensor<4>) -> Tensor<4> {
        let padded = x.pad([(0, 0), (0, 0), (1, 1), (1, 1)], PadMode::Edge);
        conv2d(padded, weight.clone(), None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1))
    }

    fn neighbours(&self, x: Tensor<4>) -> Tensor<4> {
        Filters::apply(x, &self.neighbours)
    }

    fn gradients(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        (Filters::apply(x.clone(), &self.dx), Filters::apply(x, &self.dy))
    }

    fn blur(&self, x: Tensor<4>) -> Tensor<4> {
        Filters::apply(x, &self.blur)
    }
}

fn resize(x: Tensor<4>, h: usize, w: usize) -> Tensor<4> {
    interpolate(x, InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([h, w]).with_align_corners(true))
}

/// Each pixel's x and y, `[1, 1, H, W]` each.
fn coordinates(h: usize, w: usize, device: &burn::tensor::Device) -> (Tensor<4>, Tensor<4>) {
    let xs = Tensor::<1>::from_data(TensorData::new((0..w).map(|x| x as f32).collect::<Vec<_>>(), [w]), device);
    let ys = Tensor::<1>::from_data(TensorData::new((0..h).map(|y| y as f32).collect::<Vec<_>>(), [h]), device);
    (xs.reshape([1, 1, 1, w]).expand([1, 1, h, w]), ys.reshape([1, 1, h, 1]).expand([1, 1, h, w]))
}

/// `image` (`[1, C, H, W]`) sampled at each pixel p of the flow's grid at p + flow(p): the
/// image brought back along the motion. `flow` is `[1, 2, H, W]` (x then y, in pixels). Outside
/// the image, its nearest edge.
pub fn warp(image: Tensor<4>, flow: Tensor<4>) -> Tensor<4> {
    warp_padded(image, flow, GridSamplePaddingMode::Border)
}

/// [`warp`], with `padding` saying what lies outside the image.
fn warp_padded(image: Tensor<4>, flow: Tensor<4>, padding: GridSamplePaddingMode) -> Tensor<4> {
    let [_, _, h, w] = flow.dims();
    let device = flow.device();
    // Pixel centres, then normalised to −1..1 with corners aligned (grid_sample's convention).
    let (xs, ys) = coordinates(h, w, &device);
    let gx = (xs + flow.clone().narrow(1, 0, 1)).mul_scalar(2.0 / (w.max(2) - 1) as f32).sub_scalar(1.0);
    let gy = (ys + flow.narrow(1, 1, 1)).mul_scalar(2.0 / (h.max(2) - 1) as f32).sub_scalar(1.0);
    let grid = Tensor::cat(vec![gx, gy], 1).permute([0, 2, 3, 1]);
    let options = GridSampleOptions::new(InterpolateMode::Bilinear)
        .with_padding_mode(padding)
        .with_align_corners(true);
    image.grid_sample_2d(grid, options)
}

/// The flow from `first` to `second` (luminance `[1, 1, H, W]`, as [`luminance`] gives): for each
/// pixel p of `first`, the displacement d with `first(p) ≈ second(p + d)`, as `[1, 2, H, W]`
/// (x then y, in pixels).
pub fn flow(first: Tensor<4>, second: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = first.dims();
    let f = Filters::new(&first.device());
    // The pyramid, finest first.
    let mut pyramid = vec![(first, second)];
    loop {
        let (a, b) = pyramid.last().expect("one level at least").clone();
        let [_, _, lh, lw] = a.dims();
        if lh.min(lw) / 2 < COARSEST {
            break;
        }
        let (nh, nw) = (lh.div_ceil(2), lw.div_ceil(2));
        pyramid.push((resize(f.blur(a), nh, nw), resize(f.blur(b), nh, nw)));
    }
    let mut u: Option<(Tensor<4>, Tensor<4>)> = None;
    for (a, b) in pyramid.into_iter().rev() {
        let [_, _, lh, lw] = a.dims();
        let (mut fu, mut fv) = match u.take() {
            // The coarser flow, at this size and in this level's pixels.
            Some((cu, cv)) => {
                let [_, _, ch, cw] = cu.dims();
                // Corners aligned: a coarse pixel spans (fine − 1)/(coarse − 1) fine ones.
                let (sx, sy) = ((lw - 1) as f32 / (cw - 1).max(1) as f32, (lh - 1) as f32 / (ch - 1).max(1) as f32);
                (resize(cu, lh, lw).mul_scalar(sx), resize(cv, lh, lw).mul_scalar(sy))
            }
            None => (a.zeros_like(), a.zeros_like()),
        };
        // Gradients of both frames, averaged (Horn & Schunck estimate them over both).
        let (ax, ay) = f.gradients(a.clone());
        for _ in 0..WARPS {
            let bw = warp(b.clone(), Tensor::cat(vec![fu.clone(), fv.clone()], 1));
            let (bx, by) = f.gradients(bw.clone());
            let (ix, iy) = ((ax.clone() + bx).mul_scalar(0.5), (ay.clone() + by).mul_scalar(0.5));
            let it = bw - a.clone();
            let denom = (ix.clone().square() + iy.clone().square()).add_scalar(ALPHA2);
            let (u0, v0) = (fu.clone(), fv.clone());
            for _ in 0..ITERATIONS {
                let (ub, vb) = (f.neighbours(fu.clone()), f.neighbours(fv.clone()));
                let r = (ix.clone() * (ub.clone() - u0.clone()) + iy.clone() * (vb.clone() - v0.clone()) + it.clone())
                    / denom.clone();
                fu = ub - ix.clone() * r.clone();
                fv = vb - iy.clone() * r;
            }
        }
        u = Some((fu, fv));
    }
    let (fu, fv) = u.expect("one level at least");
    debug_assert_eq!(fu.dims(), [1, 1, h, w]);
    Tensor::cat(vec![fu, fv], 1)
}

/// Where frame t's pixels are known from frame t−1, given the flow `backward` from t to t−1 and
/// `forward` from t−1 to t: 1 where they undo each other (Ruder et al.'s
/// |ŵ + w̃|² ≤ 0.01(|ŵ|² + |w̃|²) + 0.5), off motion boundaries
/// (|∇u|² + |∇v|² ≤ 0.01|ŵ|² + 0.002, ŵ the backward flow) and where the source lies inside frame t−1; 0 elsewhere
/// (occluded, disoccluded, at a boundary, from outside). `[1, 1, H, W]`.
pub fn consistency(backward: Tensor<4>, forward: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = backward.dims();
    let device = backward.device();
    let back_fwd = warp(forward, backward.clone());
    let sq = |t: Tensor<4>| t.square().sum_dim(1);
    let undo = sq(back_fwd.clone() + backward.clone());
    let occluded = undo.greater(sq(back_fwd).add(sq(backward.clone())).mul_scalar(0.01).add_scalar(0.5));
    let f = Filters::new(&device);
    let (ux, uy) = f.gradients(backward.clone().narrow(1, 0, 1));
    let (vx, vy) = f.gradients(backward.clone().narrow(1, 1, 1));
    let edge = (ux.square() + uy.square() + vx.square() + vy.square())
        .greater(sq(backward.clone()).mul_scalar(0.01).add_scalar(0.002));
    let (xs, ys) = coordinates(h, w, &device);
    let sx = xs + backward.clone().narrow(1, 0, 1);
    let sy = ys + backward.narrow(1, 1, 1);
    let outside = sx
        .clone()
        .lower_elem(-0.5)
        .bool_or(sx.greater_elem(w as f32 - 0.5))
        .bool_or(sy.clone().lower_elem(-0.5))
        .bool_or(sy.greater_elem(h as f32 - 0.5));
    let bad = occluded.bool_or(edge).bool_or(outside);
    Tensor::<4>::ones([1, 1, h, w], &device).mask_fill(bad, 0.0)
}

/// The previous painted frame carried to frame t, and where its motion is known.
#[derive(Clone, Debug)]
pub struct Carried {
    /// The previous painting warped along the motion from frame t−1 to t (`[1, 3, H, W]`, 0..255;
    /// where the source lies outside frame t−1, as [`Outside`] says).
    pub image: Tensor<4>,
    /// 1 where the motion is known ([`consistency`]), 0 elsewhere (`[1, 1, H, W]`).
    pub mask: Tensor<4>,
    /// The previous content frame's luminance carried the same way (`[1, 1, H, W]`, 0..1): where
    /// it is not frame t's, the carried painting shows what is no longer there.
    pub content: Tensor<4>,
}

/// What a carried frame shows where its source lies outside the previous frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outside {
    /// The nearest edge pixel: the warp the temporal error is measured on
    /// ([`crate::film::temporal_error`]), as before the start had its own.
    Edge,
    /// The frame mirrored at its edge: a painting's new view in strokes like its own, rather
    /// than its edge pixels drawn out into streaks (a later frame's start).
    Mirrored,
}

/// The previous painted frame `painting` carried along the motion from content frame `previous`
/// to content frame `current` (all `[1, 3, H, W]`, 0..255, one size), with what lies `outside`.
pub fn carry(painting: Tensor<4>, previous: Tensor<4>, current: Tensor<4>, outside: Outside) -> Carried {
    let (p, c) = (luminance(previous), luminance(current));
    let backward = flow(c.clone(), p.clone());
    let forward = flow(p.clone(), c);
    let mask = consistency(backward.clone(), forward);
    let padding = match outside {
        Outside::Edge => GridSamplePaddingMode::Border,
        Outside::Mirrored => GridSamplePaddingMode::Reflection,
    };
    let carried = |image| warp_padded(image, backward.clone(), padding);
    Carried { image: carried(painting), mask, content: carried(p) }
}

/// How far the carried content's luminance may differ from frame t's (0..1, the absolute
/// difference blurred twice by [`Filters::blur`]) for the carried painting to be trusted there:
/// past it, the flow passed Ruder et al.'s checks but brought the wrong thing (a subject that
/// changed its shape). Set, not tuned: about five times the mean difference between consecutive
/// frames of real footage after the warp (2.1–2.5 levels of 255, measured for issue 33).
pub const CHANGED: f32 = 12.0 / 255.0;

/// Frame t's luminance minus the carried content's (`[1, 1, H, W]`, −1..1), and 1 where their
/// absolute difference, blurred twice by the 1-2-1 filter (5×5 in all), is past [`CHANGED`]
/// (0 elsewhere): where the carried painting shows the wrong thing although the motion passed
/// the checks. Blurred so that the flow's sub-pixel errors along sharp edges do not count.
pub fn change(carried: &Carried, current: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let f = Filters::new(&current.device());
    let difference = luminance(current) - carried.content.clone();
    let spread = f.blur(f.blur(difference.clone().abs()));
    let changed = spread.clone().ones_like().mask_fill(spread.lower_equal_elem(CHANGED), 0.0);
    (difference, changed)
}
