//! Optical flow against synthetic motion with known flow, the consistency mask on a disoccluded
//! region, and the temporal term's gradient by finite differences (src/flow.rs, src/film.rs).

mod common;

use burn::tensor::{Tensor, TensorData};
use impasto::device::{cpu, read_sync};
use impasto::film::Temporal;
use impasto::flow::{self, Carried};
use impasto::stylize::to_tensor;

/// A field `[1, 2, H, W]` from a function of the pixel (x, y).
fn field(h: usize, w: usize, f: impl Fn(f32, f32) -> (f32, f32)) -> Tensor<4> {
    let mut data = vec![0.0; 2 * h * w];
    for y in 0..h {
        for x in 0..w {
            let (u, v) = f(x as f32, y as f32);
            data[y * w + x] = u;
            data[h * w + y * w + x] = v;
        }
    }
    Tensor::from_data(TensorData::new(data, [1, 2, h, w]), &cpu())
}

/// Mean end-point error of `found` against `truth` over the pixels at least `margin` from the
/// border.
fn epe(found: Tensor<4>, truth: Tensor<4>, margin: usize) -> f32 {
    let [_, _, h, w] = truth.dims();
    let (f, t) = (read_sync(found).unwrap(), read_sync(truth).unwrap());
    let (mut sum, mut n) = (0.0, 0);
    for y in margin..h - margin {
        for x in margin..w - margin {
            let i = y * w + x;
            let (du, dv) = (f[i] - t[i], f[h * w + i] - t[h * w + i]);
            sum += (du * du + dv * dv).sqrt();
            n += 1;
        }
    }
    sum / n as f32
}

/// Flow on real texture moved by a known motion: `motion(x, y)` is where the pixel (x, y) of the
/// first frame goes in the second. The second frame is made by sampling the first at the inverse
/// motion, `inverse(x, y)`.
fn recovers(name: &str, motion: impl Fn(f32, f32) -> (f32, f32), inverse: impl Fn(f32, f32) -> (f32, f32), tolerance: f32) {
    let img = common::shared_working("tubingen.jpg", 160);
    let (w, h) = (img.width as usize, img.height as usize);
    let first = to_tensor(&img, &cpu());
    let back = field(h, w, |x, y| {
        let (sx, sy) = inverse(x, y);
        (sx - x, sy - y)
    });
    let second = flow::warp(first.clone(), back);
    let truth = field(h, w, |x, y| {
        let (tx, ty) = motion(x, y);
        (tx - x, ty - y)
    });
    let found = flow::flow(flow::luminance(first.clone()), flow::luminance(second.clone()));
    let zero = epe(truth.zeros_like(), truth.clone(), 12);
    let err = epe(found, truth, 12);
    eprintln!("{name}: mean end-point error {err:.3} px (no motion assumed: {zero:.3} px)");
    assert!(err < tolerance, "{name}: {err} px ≥ {tolerance}");
}

/// `warp` samples at p + flow(p): an x-ramp warped by u = +2 reads 2 more, away from the border.
#[test]
fn warp_samples_along_the_flow() {
    let (h, w) = (6, 10);
    let ramp = field(h, w, |x, _| (x, 0.0)).narrow(1, 0, 1);
    let moved = read_sync(flow::warp(ramp, field(h, w, |_, _| (2.0, 0.0)))).unwrap();
    for y in 0..h {
        for x in 0..w - 2 {
            assert!((moved[y * w + x] - (x as f32 + 2.0)).abs() < 1e-4, "({x}, {y}): {}", moved[y * w + x]);
        }
    }
}

/// An integer shift made by cropping (not by `warp`, which the flow uses itself): the second
/// frame is the first moved by (dx, dy) whole pixels.
#[test]
fn flow_recovers_a_shift_made_without_warp() {
    let img = common::shared_working("tubingen.jpg", 200);
    let (big_w, big_h) = (img.width as usize, img.height as usize);
    let (w, h, dx, dy) = (160usize, 120usize, 4usize, 3usize);
    let crop = |x0: usize, y0: usize| {
        let mut px = Vec::with_capacity(3 * w * h);
        for c in 0..3 {
            for y in 0..h {
                for x in 0..w {
                    px.push(img.pixels[c * big_w * big_h + (y0 + y) * big_w + x0 + x]);
                }
            }
        }
        to_tensor(&impasto::image_io::Image::from_planar(w as u32, h as u32, px).unwrap(), &cpu())
    };
    // Content at (x, y) of the first frame is at (x + dx, y + dy) in the second.
    let (first, second) = (crop(10 + dx, 10 + dy), crop(10, 10));
    let found = flow::flow(flow::luminance(first), flow::luminance(second));
    let err = epe(found, field(h, w, |_, _| (dx as f32, dy as f32)), 12);
    eprintln!("crop shift ({dx}, {dy}): mean end-point error {err:.3} px");
    assert!(err < 0.2, "{err}");
}

#[test]
fn flow_recovers_shifts_zooms_and_rotations() {
    let (cx, cy) = (80.0, 60.0);
    recovers("shift (3.5, −2)", |x, y| (x + 3.5, y - 2.0), |x, y| (x - 3.5, y + 2.0), 0.2);
    recovers("shift (9, 6)", |x, y| (x + 9.0, y + 6.0), |x, y| (x - 9.0, y - 6.0), 0.2);
    let s = 1.06;
    recovers("zoom 6 %", |x, y| (cx + s * (x - cx), cy + s * (y - cy)), |x, y| (cx + (x - cx) / s, cy + (y - cy) / s), 0.3);
    let (c, n) = (4f32.to_radians().cos(), 4f32.to_radians().sin());
    recovers(
        "rotation 4°",
        |x, y| (cx + c * (x - cx) - n * (y - cy), cy + n * (x - cx) + c * (y - cy)),
        |x, y| (cx + c * (x - cx) + n * (y - cy), cy - n * (x - cx) + c * (y - cy)),
        0.4,
    );
}

#[test]
fn the_mask_marks_a_disoccluded_region() {
    // A textured square moves 6 px right over a still textured background: in the second frame,
    // the strip the square uncovered was hidden in the first (disoccluded), and its leading edge
    // covers what was there.
    let bg = common::pattern(96, 64, 1);
    let fg = common::pattern(96, 64, 2);
    let (w, h) = (96usize, 64usize);
    let frame = |x0: usize| {
        let mut img = bg.clone();
        for c in 0..3 {
            for y in 16..48 {
                for x in x0..x0 + 32 {
                    img.pixels[c * w * h + y * w + x] = fg.pixels[c * w * h + y * w + (x - x0)];
                }
            }
        }
        to_tensor(&img, &cpu())
    };
    let (previous, current) = (frame(30), frame(36));
    let carried: Carried = flow::carry(current.clone(), previous, current, flow::Outside::Edge);
    let mask = read_sync(carried.mask).unwrap();
    let mean = |xs: std::ops::Range<usize>, ys: std::ops::Range<usize>| {
        let (mut s, mut n) = (0.0, 0.0);
        for y in ys.clone() {
            for x in xs.clone() {
                s += mask[y * w + x];
                n += 1.0;
            }
        }
        s / n
    };
    let uncovered = mean(30..36, 20..44);
    let still = mean(4..20, 4..60);
    let moving = mean(42..62, 20..44);
    eprintln!("mask: uncovered strip {uncovered:.2}, still background {still:.2}, inside the square {moving:.2}");
    assert!(uncovered < 0.35, "the disoccluded strip is marked unknown: {uncovered}");
    assert!(still > 0.9 && moving > 0.9, "{still} {moving}");
}

#[test]
fn a_later_frame_starts_with_what_came_into_view() {
    // A still textured background; in the second frame a plain light square (20..44 × 16..40)
    // appears that no motion brings from the first, and the rest is as before. The painting of
    // the first frame is another pattern.
    let (w, h) = (64usize, 56usize);
    let background = common::pattern(w as u32, h as u32, 5);
    let mut current = background.clone();
    for c in 0..3 {
        for y in 16..40 {
            for x in 20..44 {
                current.pixels[c * w * h + y * w + x] = 235.0;
            }
        }
    }
    let painting = common::pattern(w as u32, h as u32, 6);
    let device = cpu();
    let (previous, frame) = (to_tensor(&background, &device), to_tensor(&current, &device));
    let carried = flow::carry(to_tensor(&painting, &device), previous, frame.clone(), flow::Outside::Mirrored);
    let (start, trusted) = impasto::film::later_start(&carried, frame);
    let was = read_sync(carried.content.clone()).unwrap();
    let (start, trusted, carried) = (read_sync(start).unwrap(), read_sync(trusted).unwrap(), read_sync(carried.image).unwrap());
    let luminance = |img: &impasto::image_io::Image, i: usize| {
        0.299 * img.pixels[i] + 0.587 * img.pixels[w * h + i] + 0.114 * img.pixels[2 * w * h + i]
    };
    let (mut inside, mut outside, mut rise) = ((0.0, 0.0, 0), (0.0, 0.0, 0), 0.0);
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if (22..42).contains(&x) && (18..38).contains(&y) {
                // Inside: the carried painting raised by the square's luminance over what the
                // motion brought there, on every channel (those not clamped to 0..255).
                let expected = luminance(&current, i) - 255.0 * was[i];
                for c in 0..3 {
                    let (s, k) = (start[c * w * h + i], carried[c * w * h + i]);
                    if s > 0.0 && s < 255.0 {
                        inside.0 += (s - k - expected).abs();
                        rise += s - k;
                        inside.2 += 1;
                    }
                }
                inside.1 += trusted[i];
            } else if !(12..52).contains(&x) || !(8..48).contains(&y) {
                // Far from it: where the temporal term applies, the carried painting itself; little
                // changed anywhere.
                let moved = (0..3).map(|c| (start[c * w * h + i] - carried[c * w * h + i]).abs()).sum::<f32>() / 3.0;
                assert!(trusted[i] == 0.0 || moved < 1e-3, "({x}, {y}) is trusted and moved by {moved}");
                outside.0 += moved;
                outside.1 += trusted[i];
                outside.2 += 1;
            }
        }
    }
    let (n_in, n_out) = (inside.2.max(1) as f32, outside.2 as f32);
    eprintln!(
        "inside: |start − carried − Δluminance| {:.2} over {} channel values, raised {:.1}, trusted {:.2}; outside: |start − carried| {:.3}, trusted {:.2}",
        inside.0 / n_in, inside.2, rise / n_in, inside.1 / 400.0, outside.0 / n_out, outside.1 / n_out
    );
    assert!(inside.2 > 300, "a quarter of the square's channels at least are not clamped: {}", inside.2);
    assert!(inside.0 / n_in < 1.0, "the square's luminance is added to the carried painting: {}", inside.0 / n_in);
    assert!(rise / n_in > 40.0, "the light square is lighter in the start: {}", rise / n_in);
    assert!(inside.1 / 400.0 < 0.05, "no temporal term on the square: {}", inside.1 / 400.0);
    assert!(outside.0 / n_out < 1.0, "elsewhere the start is about the carried painting: {}", outside.0 / n_out);
    assert!(outside.1 / n_out > 0.8, "elsewhere the temporal term applies: {}", outside.1 / n_out);
}

#[test]
fn the_temporal_gradient_matches_finite_differences() {
    let device = cpu();
    let target = to_tensor(&common::pattern(12, 9, 3), &device);
    let mask_data: Vec<f32> = (0..12 * 9).map(|i| if i % 5 == 0 { 0.0 } else { 1.0 }).collect();
    let mask = Tensor::from_data(TensorData::new(mask_data, [1, 1, 9, 12]), &device);
    let t = Temporal::new(target.clone(), mask.clone(), 300.0).unwrap();
    // The value: λ/D · Σ c·(x − ω)², D = 3·H·W, by hand.
    let (xs, ws, cs) = (common::pattern(12, 9, 4).pixels, read_sync(target).unwrap(), read_sync(mask).unwrap());
    let by_hand: f64 = (0..xs.len()).map(|i| cs[i % (12 * 9)] as f64 * ((xs[i] - ws[i]) as f64).powi(2)).sum::<f64>() * 300.0 / xs.len() as f64;
    let value = read_sync(t.loss_and_gradient(to_tensor(&common::pattern(12, 9, 4), &device)).0).unwrap()[0] as f64;
    assert!((value - by_hand).abs() <= 1e-4 * by_hand, "{value} vs {by_hand}");
    let x0 = common::pattern(12, 9, 4);
    let (_, g) = t.loss_and_gradient(to_tensor(&x0, &device));
    let g = read_sync(g).unwrap();
    let loss_at = |pixels: &[f32]| {
        let img = impasto::image_io::Image::from_planar(12, 9, pixels.to_vec()).unwrap();
        read_sync(t.loss_and_gradient(to_tensor(&img, &device)).0).unwrap()[0] as f64
    };
    // Pixels the mask keeps (every fifth is masked out).
    for i in [1, 17, 101, 202, 323] {
        let (mut plus, mut minus) = (x0.pixels.clone(), x0.pixels.clone());
        plus[i] += 0.5;
        minus[i] -= 0.5;
        let numeric = (loss_at(&plus) - loss_at(&minus)) / 1.0;
        let analytic = g[i] as f64;
        assert!(analytic != 0.0 && (numeric - analytic).abs() <= 1e-2 * analytic.abs().max(1.0), "pixel {i}: {numeric} vs {analytic}");
    }
    // Masked pixels have no gradient.
    assert_eq!(g[0], 0.0);
}
