//! VGG16 features up to conv5_1, as a burn [`Module`], and the one place that decodes weights.
//!
//! Layers are named as in the VGG paper (`conv4_2`), never by index. Each layer is a short chain
//! of convolutions followed by one ReLU: the teacher has one 3×3 convolution per layer; a
//! factorised (distilled) model may have a 3×3 convolution to fewer channels and a 1×1
//! convolution back (Zhang et al. 2015), still one ReLU. The architecture is read from the
//! weight file's tensor names and shapes, so every model loads through [`Vgg::from_bytes`]
//! (the weight file itself: [`crate::weights`]).

use burn::module::{Module, Param};
use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions, PadMode};
use burn::tensor::{Device, Tensor, TensorData, activation::relu};
use serde::Serialize;

/// A VGG16 layer whose activations (after ReLU) a caller can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)]
pub enum Layer {
    Conv1_1,
    Conv1_2,
    Conv2_1,
    Conv2_2,
    Conv3_1,
    Conv3_2,
    Conv3_3,
    Conv4_1,
    Conv4_2,
    Conv4_3,
    Conv5_1,
}

/// One row of the architecture table.
#[derive(Clone, Copy, Debug)]
pub struct LayerSpec {
    /// The layer.
    pub layer: Layer,
    /// Its name, `conv1_1` …
    pub name: &'static str,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Whether a 2×2 pooling precedes the layer (the end of the previous block).
    pub pool_before: bool,
    /// The Keras name of the layer in the teacher's ONNX file (block1_conv1 …).
    pub keras: &'static str,
}

impl LayerSpec {
    /// Parameters of this layer's convolution chain: the full 3×3 convolution (`rank` `None`) or,
    /// factorised, 3×3 to `rank` channels then 1×1 back (Zhang et al. 2015), biases included.
    pub fn params(&self, rank: Option<usize>) -> u64 {
        let (i, o) = (self.in_channels as u64, self.out_channels as u64);
        match rank.map(|r| r as u64) {
            None => 9 * i * o + o,
            Some(r) => 9 * i * r + r + r * o + o,
        }
    }

    /// Multiply-accumulates of this layer's chain (as [`LayerSpec::params`]) on a
    /// `width`×`height` input image: per output position, times its positions after the poolings.
    pub fn macs(&self, rank: Option<usize>, width: usize, height: usize) -> u64 {
        let (i, o) = (self.in_channels as u64, self.out_channels as u64);
        let per_position = match rank.map(|r| r as u64) {
            None => 9 * i * o,
            Some(r) => 9 * i * r + r * o,
        };
        let (h, w) = spatial(self.layer, height, width);
        per_position * (w * h) as u64
    }
}

/// Parameters and multiply-accumulates of a network of VGG16's shape to conv5_1 on a
/// `width`×`height` image, with each layer's chain given by `ranks` (`None`: the full 3×3; all
/// `None` is the teacher), one per layer of [`VGG16`]. The architecture-table count; [`Vgg::macs`]
/// counts a loaded model.
pub fn architecture_cost(ranks: &[Option<usize>; VGG16.len()], width: usize, height: usize) -> (u64, u64) {
    VGG16.iter().zip(ranks).fold((0, 0), |(p, m), (spec, &r)| {
        (p + spec.params(r), m + spec.macs(r, width, height))
    })
}

/// The teacher's shape without its weights (VGG16's full 3×3 convolutions to conv5_1, computed
/// by `conv`): what the memory estimates ([`crate::budget::Footprint`]) and the cost of a stage
/// need before the teacher's 20 MB have arrived (the page fetches them while the smaller sizes of
/// a coarse-to-fine run paint). Agrees with a loaded teacher (tests/controls.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TeacherShape {
    /// How its convolutions would be computed.
    pub conv: ConvAlgorithm,
}

impl TeacherShape {
    /// As [`Vgg::macs`].
    pub fn macs(&self, width: usize, height: usize) -> u64 {
        architecture_cost(&[None; VGG16.len()], width, height).1
    }

    /// As [`Vgg::activation_floats`].
    pub fn activation_floats(&self, width: usize, height: usize) -> u64 {
        let layers: u64 = VGG16
            .iter()
            .map(|spec| {
                let (h, w) = spatial(spec.layer, height, width);
                let pooled = if spec.pool_before { spec.in_channels } else { 0 };
                ((pooled + spec.out_channels) * w * h) as u64
            })
            .sum();
        3 * (width * height) as u64 + layers
    }

    /// As [`Vgg::largest_activation_floats`].
    pub fn largest_activation_floats(&self, width: usize, height: usize) -> u64 {
        VGG16
            .iter()
            .map(|spec| {
                let (h, w) = spatial(spec.layer, height, width);
                (spec.out_channels * w * h) as u64
            })
            .max()
            .unwrap_or(0)
    }

    /// As [`Vgg::num_params`].
    pub fn num_params(&self) -> u64 {
        architecture_cost(&[None; VGG16.len()], 1, 1).0
    }
}

const fn spec(
    layer: Layer,
    name: &'static str,
    keras: &'static str,
    in_channels: usize,
    out_channels: usize,
    pool_before: bool,
) -> LayerSpec {
    LayerSpec { layer, name, in_channels, out_channels, pool_before, keras }
}

/// VGG16 (Simonyan & Zisserman 2015, configuration D) up to conv5_1, the deepest layer the Gatys
/// losses use.
pub const VGG16: [LayerSpec; 11] = [
    spec(Layer::Conv1_1, "conv1_1", "block1_conv1", 3, 64, false),
    spec(Layer::Conv1_2, "conv1_2", "block1_conv2", 64, 64, false),
    spec(Layer::Conv2_1, "conv2_1", "block2_conv1", 64, 128, true),
    spec(Layer::Conv2_2, "conv2_2", "block2_conv2", 128, 128, false),
    spec(Layer::Conv3_1, "conv3_1", "block3_conv1", 128, 256, true),
    spec(Layer::Conv3_2, "conv3_2", "block3_conv2", 256, 256, false),
    spec(Layer::Conv3_3, "conv3_3", "block3_conv3", 256, 256, false),
    spec(Layer::Conv4_1, "conv4_1", "block4_conv1", 256, 512, true),
    spec(Layer::Conv4_2, "conv4_2", "block4_conv2", 512, 512, false),
    spec(Layer::Conv4_3, "conv4_3", "block4_conv3", 512, 512, false),
    spec(Layer::Conv5_1, "conv5_1", "block5_conv1", 512, 512, true),
];

impl Layer {
    /// The row of [`VGG16`] for this layer.
    pub fn spec(self) -> &'static LayerSpec {
        &VGG16[self as usize]
    }

    /// `conv4_2` …
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The layer of a name such as `conv4_2`.
    pub fn from_name(name: &str) -> Option<Layer> {
        VGG16.iter().find(|s| s.name == name).map(|s| s.layer)
    }
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The feature map size `(height, width)` at `layer` for an input of `height`×`width` (each
/// 2×2 pooling halves it, rounding down).
pub fn spatial(layer: Layer, height: usize, width: usize) -> (usize, usize) {
    let pools = pools_before(layer);
    (height >> pools, width >> pools)
}

/// How many 2×2 poolings come before `layer`: one of its positions covers `2^pools` pixels.
pub fn pools_before(layer: Layer) -> usize {
    VGG16[..=layer as usize].iter().filter(|s| s.pool_before).count()
}

/// Pooling between blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(not(target_family = "wasm"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Average pooling: CS20's choice, following Gatys et al. ("slightly more appealing results").
    #[default]
    Avg,
    /// Max pooling: what VGG16 was trained with.
    Max,
}

impl Pooling {
    /// Both, in the order to offer them.
    pub const ALL: [Pooling; 2] = [Pooling::Avg, Pooling::Max];
}

/// The BGR channel means of the ImageNet training set that Keras' VGG16 subtracts
/// (`keras.applications.vgg16.preprocess_input`, "caffe" mode).
pub const MEAN_BGR: [f32; 3] = [103.939, 116.779, 123.68];

/// The same means in RGB order: the mean pixel of the start image.
pub const MEAN_RGB: [f32; 3] = [MEAN_BGR[2], MEAN_BGR[1], MEAN_BGR[0]];

/// One convolution (3×3 with padding 1, or 1×1).
#[derive(Module, Debug)]
pub struct Conv {
    /// `[out, in, k, k]`.
    pub weight: Param<Tensor<4>>,
    /// `[out]`.
    pub bias: Param<Tensor<1>>,
    /// The weight as [`ConvAlgorithm::Gemm`] multiplies it, `[1, out, k·k·in]`, made on its first
    /// use and kept: every iteration's forward passes (two per tile when tiled) reuse it. A
    /// `Conv` never changes its weight (the distillation builds new ones each step).
    #[module(skip)]
    gemm_weight: std::sync::OnceLock<Tensor<3>>,
}

impl Conv {
    /// A convolution from its weight `[out, in, k, k]` and bias `[out]`.
    pub fn new(weight: Tensor<4>, bias: Tensor<1>) -> Conv {
        Conv { weight: Param::from_tensor(weight), bias: Param::from_tensor(bias), gemm_weight: std::sync::OnceLock::new() }
    }

    /// Apply it (3×3 with padding 1, or 1×1) by the given algorithm: both compute the same
    /// function ([`Vgg`] takes the one faster on its device, [`ConvAlgorithm::for_device`]).
    pub fn forward_with(&self, x: Tensor<4>, algorithm: ConvAlgorithm) -> Tensor<4> {
        let [_, _, k, _] = self.weight.val().dims();
        match algorithm {
            // The host pass runs whole networks ([`Vgg::features`], the losses' gradient); a
            // single convolution asked of a `Host` model (autodiff through it, a tool) is the
            // backend's.
            ConvAlgorithm::Direct | ConvAlgorithm::Host => {
                let pad = k / 2;
                conv2d(x, self.weight.val(), Some(self.bias.val()), ConvOptions::new([1, 1], [pad, pad], [1, 1], 1))
            }
            ConvAlgorithm::Gemm => {
                let wm = self.gemm_weight.get_or_init(|| gemm_weight(self.weight.val())).clone();
                conv_gemm_prepared(x, wm, k, self.bias.val(), COL_BAND_BYTES)
            }
        }
    }

    /// Output channels.
    fn out_channels(&self) -> u64 {
        self.weight.val().dims()[0] as u64
    }

    /// Multiply-accumulates per output pixel.
    fn macs_per_pixel(&self) -> u64 {
        let [o, i, kh, kw] = self.weight.val().dims();
        (o * i * kh * kw) as u64
    }

    fn params(&self) -> u64 {
        let [o, i, kh, kw] = self.weight.val().dims();
        (o * i * kh * kw + o) as u64
    }
}

/// How a convolution is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvAlgorithm {
    /// The backend's own convolution (`burn::tensor::module::conv2d`).
    Direct,
    /// As matrix products: a 1×1 convolution is one; a 3×3 one multiplies the weights by the
    /// nine shifted copies of the input stacked along the channels (im2col), in bands of rows
    /// so that no stack exceeds [`COL_BAND_BYTES`].
    Gemm,
    /// The CPU engine's own pass ([`crate::host`]): an iteration's forward and backward through
    /// the whole network on host memory, each convolution as matrix products by the `gemm`
    /// crate, the input gradient as a convolution with the flipped kernel. CPU only. Features
    /// with no gradient asked (the targets, judging) take it too; autodiff through the model
    /// (tracked weights, a tracked image) takes the backend's convolution.
    Host,
}

impl ConvAlgorithm {
    /// The faster algorithm on `device`, as measured with `impasto-lab bench --convs …` on the
    /// 2-core container (BENCHMARKS.md; one iteration = forward, losses, backward to the image,
    /// Adam):
    /// - burn-flex (CPU): the host pass (2026-12-07: 0.45–0.75× the time of burn-flex's own
    ///   convolution, both models, 256 and 512 px); before it, burn-flex's convolution over the matmul route
    ///   (2026-11-27, teacher 128 px: 492 ms against 582; distilled 256 px: 1045 against 2117);
    /// - wgpu: the matmul route. burn 0.22's wgpu backend without autotune (Impasto's build, see
    ///   Cargo.toml) has only a direct convolution kernel, which reached about 1 TFLOP/s on an
    ///   NVIDIA H200; on lavapipe a teacher iteration ran 2.2× (64 px) to 3.4× (128 px) faster
    ///   through burn's matmul (the distilled model 0.87–1.28×). Not yet measured on a real GPU:
    ///   `scripts/gpu-bench` times both;
    /// - except on SwiftShader (the software WebGPU of headless Chromium), where burn's matmul
    ///   kernel crawls (a 64×576 by 576×1024 product: 510 ms, 0.15 GFLOP/s) and an iteration at
    ///   32 px took 3.5 s direct against 12.4 s.
    ///
    /// A browser's WebGPU adapter does not name itself to wgpu, so the page reports it
    /// ([`ConvAlgorithm::for_adapter`]).
    pub fn for_device(device: &Device) -> ConvAlgorithm {
        if *device == Device::flex() {
            return ConvAlgorithm::Host;
        }
        #[cfg(any(not(target_family = "wasm"), feature = "webgpu"))]
        return ConvAlgorithm::for_adapter(&device.identity().map(|id| id.name).unwrap_or_default());
        // The threaded CPU module has no GPU backend: its one device is the CPU.
        #[cfg(not(any(not(target_family = "wasm"), feature = "webgpu")))]
        ConvAlgorithm::Host
    }

    /// The faster algorithm on a GPU adapter that calls itself `name` (the native adapter's
    /// name, or a browser's `GPUAdapterInfo.architecture`/`description`): direct on SwiftShader,
    /// the matmul route elsewhere (see [`ConvAlgorithm::for_device`]).
    pub fn for_adapter(name: &str) -> ConvAlgorithm {
        if name.to_ascii_lowercase().contains("swiftshader") { ConvAlgorithm::Direct } else { ConvAlgorithm::Gemm }
    }

    /// `direct`, `gemm` or `host`.
    pub fn name(self) -> &'static str {
        match self {
            ConvAlgorithm::Direct => "direct",
            ConvAlgorithm::Gemm => "gemm",
            ConvAlgorithm::Host => "host",
        }
    }

    /// The algorithm called `name` (`direct`, `gemm` or `host`).
    pub fn from_name(name: &str) -> Option<ConvAlgorithm> {
        [ConvAlgorithm::Direct, ConvAlgorithm::Gemm, ConvAlgorithm::Host].into_iter().find(|a| a.name() == name)
    }
}

/// The largest stack of shifted inputs [`ConvAlgorithm::Gemm`] builds at once, in bytes: half the
/// 128 MiB storage buffer every WebGPU adapter allows (the spec's `maxStorageBufferBindingSize`
/// default), so a band never meets a device's per-buffer limit and its transient memory stays
/// small beside the activations.
pub const COL_BAND_BYTES: usize = 64 << 20;

/// `conv2d(x, weight, bias)` with stride 1 and "same" padding, as matrix products (see
/// [`ConvAlgorithm::Gemm`]), no stack of shifted inputs larger than `band_bytes` (but at least
/// one row). `weight` is `[out, in, k, k]` with k = 1 or 3.
pub fn conv_gemm(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, band_bytes: usize) -> Tensor<4> {
    let k = weight.dims()[2];
    conv_gemm_prepared(x, gemm_weight(weight), k, bias, band_bytes)
}

/// `weight` `[out, in, k, k]` as [`conv_gemm`] multiplies it: `[1, out, k·k·in]`, columns ordered
/// (dy, dx, channel) as its stack of shifted inputs.
fn gemm_weight(weight: Tensor<4>) -> Tensor<3> {
    let [o, i, k, _] = weight.dims();
    weight.permute([0, 2, 3, 1]).reshape([1, o, k * k * i])
}

/// [`conv_gemm`] with the weight already in [`gemm_weight`]'s form.
fn conv_gemm_prepared(x: Tensor<4>, wm: Tensor<3>, k: usize, bias: Tensor<1>, band_bytes: usize) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let o = wm.dims()[1];
    let b = bias.reshape([1, o, 1]);
    if k == 1 {
        return (wm.matmul(x.reshape([n, c, h * w])) + b).reshape([n, o, h, w]);
    }
    let xp = x.pad([(0, 0), (0, 0), (1, 1), (1, 1)], PadMode::Constant(0.0));
    let bytes_per_row = 9 * c * w * n * std::mem::size_of::<f32>();
    let rows = (band_bytes / bytes_per_row).clamp(1, h);
    let mut bands = Vec::with_capacity(h.div_ceil(rows));
    for y0 in (0..h).step_by(rows) {
        let y1 = (y0 + rows).min(h);
        let band = if rows == h { xp.clone() } else { xp.clone().slice([0..n, 0..c, y0..y1 + 2, 0..w + 2]) };
        let shifted = (0..9)
            .map(|t| {
                let (dy, dx) = (t / 3, t % 3);
                band.clone().slice([0..n, 0..c, dy..dy + (y1 - y0), dx..dx + w])
            })
            .collect();
        let col = Tensor::cat(shifted, 1).reshape([n, 9 * c, (y1 - y0) * w]);
        bands.push((wm.clone().matmul(col) + b.clone()).reshape([n, o, y1 - y0, w]));
    }
    if bands.len() == 1 { bands.remove(0) } else { Tensor::cat(bands, 2) }
}

/// One named layer: a chain of convolutions, then ReLU.
#[derive(Module, Debug)]
pub struct VggLayer {
    /// The convolutions, applied in order with no nonlinearity between them.
    pub convs: Vec<Conv>,
}

impl VggLayer {
    /// The chain without its ReLU: the layer's pre-activation, each convolution computed by
    /// `algorithm`.
    pub fn forward_linear(&self, mut h: Tensor<4>, algorithm: ConvAlgorithm) -> Tensor<4> {
        for conv in &self.convs {
            h = conv.forward_with(h, algorithm);
        }
        h
    }
}

/// The model's preprocessing: minus the ImageNet mean, in RGB order (the BGR flip is in
/// conv1_1's weights).
fn subtract_mean(x: Tensor<4>) -> Tensor<4> {
    let mean = Tensor::<1>::from_data(TensorData::new(MEAN_RGB.to_vec(), [3]), &x.device()).reshape([1, 3, 1, 1]);
    x - mean
}

/// 2×2 pooling with stride 2 (VGG's; CS20 averages). `avg_as_conv`: the average as a depthwise
/// convolution with weights ¼ (see [`Vgg::avg_pool_as_conv`]); the same function.
fn pool(h: Tensor<4>, pooling: Pooling, avg_as_conv: bool) -> Tensor<4> {
    match pooling {
        Pooling::Avg if avg_as_conv => {
            let channels = h.dims()[1];
            let quarter = Tensor::<4>::full([channels, 1, 2, 2], 0.25, &h.device());
            conv2d(h, quarter, None, ConvOptions::new([2, 2], [0, 0], [1, 1], channels))
        }
        Pooling::Avg => avg_pool2d(h, AvgPoolOptions::new([2, 2])),
        Pooling::Max => max_pool2d(h, MaxPoolOptions::new([2, 2])),
    }
}

/// VGG16-shaped feature extractor up to conv5_1.
#[derive(Module, Debug)]
pub struct Vgg {
    /// One entry per row of [`VGG16`], in order.
    pub layers: Vec<VggLayer>,
    /// How its convolutions are computed (the same function either way).
    #[module(skip)]
    pub conv: ConvAlgorithm,
    /// Whether 2×2 average pooling runs as a depthwise convolution: on the CPU (burn-flex) its
    /// depthwise kernel, forward and backward, takes about a third of `avg_pool2d`'s time
    /// (BENCHMARKS, "The CPU engine beside PyTorch"); on wgpu the backend's pooling kernel stays.
    #[module(skip)]
    pub avg_pool_as_conv: bool,
    /// The weights laid out for [`ConvAlgorithm::Host`], made on its first use and kept; a
    /// clone, or a model mapped by burn (a new device, new weights), starts without it. Replacing
    /// a layer of this very value in place would leave it stale: build a new `Vgg` instead.
    #[module(skip)]
    host: crate::host::HostCache,
}

/// Features at the layers a caller asked for, in the order asked.
pub type Features = Vec<Tensor<4>>;

impl Vgg {
    /// A model of `layers` (one per row of [`VGG16`]) whose tensors live on `device`, computing
    /// its convolutions by the algorithm faster there ([`ConvAlgorithm::for_device`]).
    pub fn new(layers: Vec<VggLayer>, device: &Device) -> Vgg {
        Vgg {
            layers,
            conv: ConvAlgorithm::for_device(device),
            avg_pool_as_conv: *device == Device::flex(),
            host: crate::host::HostCache::default(),
        }
    }

    /// The host pass's layout of this model's weights, where it computes by
    /// [`ConvAlgorithm::Host`] on the CPU; made on the first call. None where any weight is
    /// tracked by autodiff (the lab's distillation trains them): the host pass has no weight
    /// gradient.
    pub fn host(&self) -> Option<crate::error::Result<std::sync::Arc<crate::host::HostVgg>>> {
        if self.conv != ConvAlgorithm::Host {
            return None;
        }
        let plain = |c: &Conv| {
            let (w, b) = (c.weight.val(), c.bias.val());
            !w.is_autodiff() && !b.is_autodiff() && w.device() == Device::flex()
        };
        if !self.layers.iter().flat_map(|l| &l.convs).all(plain) {
            return None;
        }
        Some(self.host.get_or_make(|| crate::host::HostVgg::new(self)))
    }

    /// The same model, computing its convolutions by `conv`.
    pub fn with_conv(mut self, conv: ConvAlgorithm) -> Vgg {
        self.conv = conv;
        self
    }

    /// Activations (after ReLU) of `x`, `[batch, 3, H, W]` RGB in 0..255, at each of `wanted`,
    /// in that order. Stops after the deepest layer asked for.
    ///
    /// Preprocessing is part of the model: the teacher expects BGR minus [`MEAN_BGR`]. The
    /// channel flip is folded into conv1_1's weights at load time ([`Vgg::from_bytes`]), so here
    /// only the mean is subtracted, in RGB order: the same function, one op fewer.
    pub fn features(&self, x: Tensor<4>, wanted: &[Layer], pooling: Pooling) -> Features {
        // The host pass where this model takes it and nothing asks for a gradient, so that the
        // targets (content features, Gram matrices) are the same function of an image as the
        // image being optimised.
        if !x.is_autodiff()
            && x.device() == Device::flex()
            && let (Some(Ok(host)), Some(deepest)) = (self.host(), wanted.iter().copied().max())
            && let Ok(tape) = host.forward(x.clone(), deepest, pooling)
        {
            let device = x.device();
            return wanted.iter().filter_map(|l| tape.output(*l)).map(|m| m.to_tensor(&device)).collect();
        }
        let deepest = wanted.iter().copied().max().map_or(0, |l| l as usize);
        let mut h = subtract_mean(x);
        let mut out: Vec<Option<Tensor<4>>> = vec![None; wanted.len()];
        for (spec, layer) in VGG16.iter().zip(&self.layers).take(deepest + 1) {
            if spec.pool_before {
                h = self.pool(h, pooling);
            }
            h = relu(layer.forward_linear(h, self.conv));
            for (slot, w) in out.iter_mut().zip(wanted) {
                if *w == spec.layer {
                    *slot = Some(h.clone());
                }
            }
        }
        // Every wanted layer is at most the deepest, so every slot is filled.
        out.into_iter().flatten().collect()
    }

    /// The input of every layer's convolution chain (after the pooling that precedes it, if
    /// any), computed by this model from `x` (RGB, 0..255): `inputs[l]` feeds `self.layers[l]`.
    /// The distillation uses it to gather the teacher's responses layer by layer.
    pub fn layer_inputs(&self, x: Tensor<4>, pooling: Pooling) -> Vec<Tensor<4>> {
        let mut h = subtract_mean(x);
        let mut inputs = Vec::with_capacity(VGG16.len());
        for (spec, layer) in VGG16.iter().zip(&self.layers) {
            if spec.pool_before {
                h = self.pool(h, pooling);
            }
            inputs.push(h.clone());
            h = relu(layer.forward_linear(h, self.conv));
        }
        inputs
    }

    /// The 2×2 pooling before a block, `pooling` as asked, computed as this model computes it.
    pub fn pool(&self, h: Tensor<4>, pooling: Pooling) -> Tensor<4> {
        pool(h, pooling, self.avg_pool_as_conv)
    }

    /// Per layer, the ranks of its chain: `None` for one full convolution, `Some(r)` for a 3×3
    /// convolution to `r` channels and a 1×1 back.
    pub fn ranks(&self) -> Vec<Option<usize>> {
        self.layers
            .iter()
            .map(|l| match &l.convs[..] {
                [_] => None,
                [first, ..] => Some(first.weight.val().dims()[0]),
                [] => None,
            })
            .collect()
    }

    /// Each layer with its spec and the number of positions of its output on a `width`×`height`
    /// image (halved on each side by every pooling before it): what the cost estimates walk.
    fn with_positions(&self, width: usize, height: usize) -> impl Iterator<Item = (&'static LayerSpec, &VggLayer, u64)> {
        VGG16.iter().zip(&self.layers).map(move |(spec, layer)| {
            let (h, w) = spatial(spec.layer, height, width);
            (spec, layer, (w * h) as u64)
        })
    }

    /// Multiply-accumulates of one forward pass to conv5_1 on a `width`×`height` image.
    pub fn macs(&self, width: usize, height: usize) -> u64 {
        self.with_positions(width, height)
            .map(|(_, layer, positions)| layer.convs.iter().map(Conv::macs_per_pixel).sum::<u64>() * positions)
            .sum()
    }

    /// Floats of the activations one forward pass to conv5_1 produces on a `width`×`height`
    /// image: the input, every convolution's output (the rank-`r` intermediate of a factorised
    /// layer included) and every pooled map. The basis of [`crate::budget::memory_estimate`].
    pub fn activation_floats(&self, width: usize, height: usize) -> u64 {
        let layers: u64 = self
            .with_positions(width, height)
            .map(|(spec, layer, positions)| {
                let input = layer.convs.first().map_or(0, |c| c.weight.val().dims()[1] as u64);
                let pooled = if spec.pool_before { input } else { 0 };
                (pooled + layer.convs.iter().map(Conv::out_channels).sum::<u64>()) * positions
            })
            .sum();
        3 * (width * height) as u64 + layers
    }

    /// The largest single activation of a forward pass on a `width`×`height` image, in floats:
    /// the widest map at full resolution (conv1_1's 64 channels). WebGPU caps one buffer's size.
    pub fn largest_activation_floats(&self, width: usize, height: usize) -> u64 {
        self.with_positions(width, height)
            .flat_map(|(_, layer, positions)| layer.convs.iter().map(move |c| c.out_channels() * positions))
            .max()
            .unwrap_or(0)
    }

    /// Number of parameters.
    pub fn num_params(&self) -> u64 {
        self.layers.iter().flat_map(|l| &l.convs).map(Conv::params).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        for pair in VGG16.windows(2) {
            assert_eq!(pair[0].out_channels, pair[1].in_channels);
        }
        for (i, s) in VGG16.iter().enumerate() {
            assert_eq!(s.layer as usize, i);
            assert_eq!(Layer::from_name(s.name), Some(s.layer));
        }
    }
}
