//! The weight file: VGG16-shaped models as burnpack files (tensors `conv3_1.0.weight`,
//! `conv3_1.0.bias`, `conv3_1.1.weight`, … in the source model's BGR input order, f16 or f32, and
//! a format tag), decoded into a [`Vgg`] ([`Vgg::from_bytes`]: every model loads through it) and
//! encoded from one ([`encode_weights`], [`Vgg::to_layer_weights`]).

use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_pack::{Bytes, Reader, Writer};

use crate::error::{Error, Result};
use crate::vgg::{Conv, Layer, VGG16, Vgg, VggLayer};

impl Vgg {
    /// Decode a weight file (burnpack, see [`encode_weights`]) into the model on `device`.
    ///
    /// The architecture comes from the tensor names (`conv3_1.0.weight`, `conv3_1.1.weight`, …)
    /// and shapes; every chain is checked against the VGG16 table. Weights are stored in BGR input
    /// order as in the source model; conv1_1's input channels are flipped here to take RGB.
    pub fn from_bytes(bytes: Vec<u8>, device: &Device) -> Result<Vgg> {
        let bad = |m: String| Error::Weights(m);
        let reader = Reader::from_bytes(Bytes::from_bytes_vec(bytes))
            .map_err(|e| bad(format!("not a weight file ({e})")))?;
        let format = reader.metadata().get(FORMAT_KEY).cloned();
        if format.as_deref() != Some(FORMAT_VERSION) {
            return Err(bad(format!(
                "unknown weight format {:?} (expected {FORMAT_VERSION:?})",
                format.unwrap_or_default()
            )));
        }
        let mut tensors = std::collections::BTreeMap::new();
        for t in reader.into_tensors().map_err(|e| bad(e.to_string()))? {
            let (name, dtype, shape, _, bytes) = t.into_parts().map_err(|e| bad(e.to_string()))?;
            tensors.insert(name, (dtype, shape.to_vec(), bytes));
        }
        let mut layers = Vec::with_capacity(VGG16.len());
        let mut channels = VGG16[0].in_channels; // each chain takes the previous one's output
        for spec in &VGG16 {
            let mut convs = Vec::new();
            for k in 0.. {
                let (wname, bname) = (format!("{}.{k}.weight", spec.name), format!("{}.{k}.bias", spec.name));
                let Some((wd, wshape, wbytes)) = tensors.remove(&wname) else { break };
                let (bd, bshape, bbytes) =
                    tensors.remove(&bname).ok_or_else(|| bad(format!("{bname} is missing")))?;
                let [o, i, kh, kw] = wshape[..] else {
                    return Err(bad(format!("{wname} has shape {wshape:?}, expected 4 dimensions")));
                };
                if i != channels || kh != kw || !(kh == 3 || kh == 1) || bshape != [o] {
                    return Err(bad(format!(
                        "{wname} has shape {wshape:?} (bias {bshape:?}); expected [_, {channels}, 3|1, 3|1]"
                    )));
                }
                let mut w = to_f32(wd, wshape.clone(), wbytes).map_err(&bad)?;
                if spec.layer == Layer::Conv1_1 && k == 0 {
                    w = flip_input_channels(&w, o, i, kh * kw);
                }
                let b = to_f32(bd, bshape, bbytes).map_err(&bad)?;
                convs.push(Conv::new(
                    Tensor::from_data(TensorData::new(w, [o, i, kh, kw]), device),
                    Tensor::from_data(TensorData::new(b, [o]), device),
                ));
                channels = o;
            }
            if convs.is_empty() {
                return Err(bad(format!("{} is missing", spec.name)));
            }
            // The loss layers keep the teacher's width (the losses and their CS20 weights are
            // defined on it); a layer between them may be narrower, as in channel pruning (He et
            // al. 2017): the next layer then reads fewer channels.
            let narrower_allowed = !crate::loss::LOSS_LAYERS.contains(&spec.layer) && channels <= spec.out_channels;
            if channels != spec.out_channels && !narrower_allowed {
                return Err(bad(format!("{} ends with {channels} channels, expected {}", spec.name, spec.out_channels)));
            }
            layers.push(VggLayer { convs });
        }
        if let Some(name) = tensors.keys().next() {
            return Err(bad(format!("unexpected tensor {name}")));
        }
        Ok(Vgg::new(layers, device))
    }

    /// The weights in weight-file form ([`encode_weights`]), read back from the device: conv1_1
    /// in BGR input order again, as in the source model.
    #[cfg(not(target_family = "wasm"))] // (a blocking readback: native tools only)
    pub fn to_layer_weights(&self) -> Result<Vec<LayerWeights>> {
        let mut out = Vec::with_capacity(VGG16.len());
        for (spec, layer) in VGG16.iter().zip(&self.layers) {
            let mut convs = Vec::with_capacity(layer.convs.len());
            for (k, conv) in layer.convs.iter().enumerate() {
                let shape = conv.weight.val().dims();
                let mut w = crate::device::read_sync(conv.weight.val())?;
                if spec.layer == Layer::Conv1_1 && k == 0 {
                    w = flip_input_channels(&w, shape[0], shape[1], shape[2] * shape[3]);
                }
                convs.push((shape, w, crate::device::read_sync(conv.bias.val())?));
            }
            out.push(LayerWeights { name: spec.name, convs });
        }
        Ok(out)
    }
}

const FORMAT_KEY: &str = "impasto.weights";
const FORMAT_VERSION: &str = "vgg-1";

fn to_f32(dtype: DType, shape: Vec<usize>, bytes: Bytes) -> std::result::Result<Vec<f32>, String> {
    let n: usize = shape.iter().product();
    let data = TensorData::from_bytes_vec(bytes.to_vec(), shape, dtype);
    let v = match dtype {
        DType::F16 | DType::F32 => data.convert::<f32>().try_into_vec::<f32>().map_err(|e| format!("{e:?}"))?,
        other => return Err(format!("unsupported weight type {other:?}")),
    };
    if v.len() != n || v.iter().any(|x| !x.is_finite()) {
        return Err("weights are truncated or not finite".into());
    }
    Ok(v)
}

fn flip_input_channels(w: &[f32], out: usize, inp: usize, k: usize) -> Vec<f32> {
    let mut flipped = vec![0.0; w.len()];
    for o in 0..out {
        for i in 0..inp {
            let (src, dst) = ((o * inp + i) * k, (o * inp + (inp - 1 - i)) * k);
            flipped[dst..dst + k].copy_from_slice(&w[src..src + k]);
        }
    }
    flipped
}

/// One layer's weights as they go into a weight file: `convs[k] = (weight [o,i,k,k], bias [o])`,
/// with weights in the source model's BGR input order for conv1_1.
pub struct LayerWeights {
    /// Name, `conv1_1` …
    pub name: &'static str,
    /// `(shape, weight values, bias values)` per convolution in the chain.
    pub convs: Vec<([usize; 4], Vec<f32>, Vec<f32>)>,
}

/// Storage precision of a weight file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Half precision: half the download.
    F16,
    /// Full precision.
    F32,
}

/// Encode weights as a burnpack file (the format [`Vgg::from_bytes`] reads).
pub fn encode_weights(layers: &[LayerWeights], storage: Storage, metadata: &[(&str, &str)]) -> Result<Vec<u8>> {
    let pack = |v: &[f32]| match storage {
        Storage::F16 => (DType::F16, Bytes::from_elems(v.iter().map(|&x| half::f16::from_f32(x)).collect::<Vec<_>>())),
        Storage::F32 => (DType::F32, Bytes::from_elems(v.to_vec())),
    };
    let mut tensors = Vec::new();
    for layer in layers {
        for (k, (shape, w, b)) in layer.convs.iter().enumerate() {
            let (dtype, bytes) = pack(w);
            tensors.push(burn_pack::Tensor::new(format!("{}.{k}.weight", layer.name), dtype, shape.to_vec(), None, bytes));
            let (dtype, bytes) = pack(b);
            tensors.push(burn_pack::Tensor::new(format!("{}.{k}.bias", layer.name), dtype, vec![shape[0]], None, bytes));
        }
    }
    let mut writer = Writer::new(tensors).with_metadata(FORMAT_KEY, FORMAT_VERSION);
    for (k, v) in metadata {
        writer = writer.with_metadata(k, v);
    }
    let bytes = writer.into_bytes().map_err(|e| Error::Weights(e.to_string()))?;
    Ok(bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flip_reverses_input_channels() {
        let w: Vec<f32> = (0..2 * 3 * 2).map(|x| x as f32).collect();
        let f = flip_input_channels(&w, 2, 3, 2);
        assert_eq!(&f[..6], &[4.0, 5.0, 2.0, 3.0, 0.0, 1.0]);
    }
}
