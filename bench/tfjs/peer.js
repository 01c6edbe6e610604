// The TF.js peer of one Impasto iteration (issues 5 and 19): the same network read from the same
// weight file (models/*.bpk), the same CS20 losses and the same Adam step (TensorFlow's form, as
// src/optim.rs), written with @tensorflow/tfjs-core on whichever backend is active (WebGPU,
// WebGL, wasm, cpu). Loaded by bench/browser.html after tfjs's UMD scripts (global `tf`).
// Note: TF.js wasm's Sum adds in float32, one term after another, so its reported style loss is
// off by ~6e-5 relative (its features and Gram matrices agree with the cpu backend's to ~2e-7:
// the same network; referenceFirstLosses below is the arbiter). The cpu backend's losses agree
// with the float64 reference to ~2e-7, Impasto's to ~1e-6.

/** Decode one CBOR item (RFC 8949: the subset burn-pack's header uses). */
function cbor(bytes, pos) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const head = bytes[pos++];
  const major = head >> 5;
  let info = head & 31;
  let arg = info;
  if (info === 24) { arg = bytes[pos]; pos += 1; }
  else if (info === 25) { arg = view.getUint16(pos); pos += 2; }
  else if (info === 26) { arg = view.getUint32(pos); pos += 4; }
  else if (info === 27) { arg = Number(view.getBigUint64(pos)); pos += 8; }
  else if (info > 27 && major !== 7) throw new Error(`CBOR: unsupported item ${head}`);
  switch (major) {
    case 0: return [arg, pos];
    case 1: return [-1 - arg, pos];
    case 2: return [bytes.subarray(pos, pos + arg), pos + arg];
    case 3: return [new TextDecoder().decode(bytes.subarray(pos, pos + arg)), pos + arg];
    case 4: {
      const out = [];
      for (let i = 0; i < arg; i++) { let v; [v, pos] = cbor(bytes, pos); out.push(v); }
      return [out, pos];
    }
    case 5: {
      const out = {};
      for (let i = 0; i < arg; i++) {
        let k, v;
        [k, pos] = cbor(bytes, pos);
        [v, pos] = cbor(bytes, pos);
        out[k] = v;
      }
      return [out, pos];
    }
    case 7:
      if (info === 20) return [false, pos];
      if (info === 21) return [true, pos];
      if (info === 22) return [null, pos];
      if (info === 26) return [view.getFloat32(pos - 4), pos];
      if (info === 27) return [view.getFloat64(pos - 8), pos];
      throw new Error(`CBOR: unsupported simple value ${info}`);
    default: throw new Error(`CBOR: unsupported major type ${major}`);
  }
}

function f16ToF32(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, f = h & 1023;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** The tensors of a burn-pack file: {name: {shape, data: Float32Array}} (layout: burn-pack's
 * lib.rs — 10-byte header with the metadata's length at byte 6, CBOR metadata, data from the
 * next multiple of 256, `data_offsets` relative to it). */
export function readPack(buffer) {
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  const metadataLength = view.getUint32(6, true);
  const [meta] = cbor(bytes, 10);
  const dataStart = Math.ceil((10 + metadataLength) / 256) * 256;
  const out = {};
  for (const [name, t] of Object.entries(meta.tensors)) {
    const [start, end] = t.data_offsets;
    const raw = new DataView(buffer, dataStart + start, end - start);
    const count = t.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(count);
    if (t.dtype === 'F16') for (let i = 0; i < count; i++) data[i] = f16ToF32(raw.getUint16(2 * i, true));
    else if (t.dtype === 'F32') for (let i = 0; i < count; i++) data[i] = raw.getFloat32(4 * i, true);
    else throw new Error(`${name}: dtype ${t.dtype} not supported`);
    out[name] = { shape: t.shape, data };
  }
  return out;
}

// VGG16 to conv5_1 (src/vgg.rs): [name, pool before].
const LAYERS = [
  ['conv1_1', false], ['conv1_2', false], ['conv2_1', true], ['conv2_2', false],
  ['conv3_1', true], ['conv3_2', false], ['conv3_3', false], ['conv4_1', true],
  ['conv4_2', false], ['conv4_3', false], ['conv5_1', true],
];
const STYLE_LAYERS = { conv1_1: 0.5, conv2_1: 1.0, conv3_1: 1.5, conv4_1: 3.0, conv5_1: 4.0 };
const CONTENT_LAYER = 'conv4_2';
const MEAN_RGB = [123.68, 116.779, 103.939];

/** The network as TF.js tensors: each layer a chain of convolutions (one for the teacher, a
 * 3×3 then a 1×1 for the distilled model), weights OIHW → HWIO, conv1_1's input channels flipped
 * from the file's BGR to RGB (as Vgg::from_bytes does). */
export function buildModel(tensors) {
  return LAYERS.map(([name, poolBefore]) => {
    const convs = [];
    for (let k = 0; `${name}.${k}.weight` in tensors; k++) {
      const w = tensors[`${name}.${k}.weight`], b = tensors[`${name}.${k}.bias`];
      let kernel = tf.transpose(tf.tensor4d(w.data, w.shape), [2, 3, 1, 0]);
      if (name === 'conv1_1' && k === 0) kernel = tf.reverse(kernel, 2);
      convs.push({ kernel, bias: tf.tensor1d(b.data), same: w.shape[2] === 3 });
    }
    return { name, poolBefore, convs };
  });
}

/** Features of `x` ([1, H, W, 3], RGB 0..255) at the loss layers, keyed by name. */
function features(model, x) {
  let h = tf.sub(x, tf.tensor1d(MEAN_RGB));
  const out = {};
  for (const layer of model) {
    if (layer.poolBefore) h = tf.avgPool(h, 2, 2, 'valid');
    for (const [i, c] of layer.convs.entries()) {
      h = tf.add(tf.conv2d(h, c.kernel, 1, c.same ? 'same' : 'valid'), c.bias);
      if (i === layer.convs.length - 1) h = tf.relu(h);
    }
    if (layer.name in STYLE_LAYERS || layer.name === CONTENT_LAYER) out[layer.name] = h;
  }
  return out;
}

function gram(f) {
  const [, h, w, n] = f.shape;
  const m = tf.reshape(f, [h * w, n]);
  return tf.matMul(m, m, true, false);
}

/** A run of the CS20 loop on `content`/`style` ([1, H, W, 3] float tensors), starting at
 * `start`; `step()` does one iteration and reads the losses back (as Impasto's step does). */
export function peerRun(model, content, style, start, { contentWeight = 0.01, styleWeight = 1, learningRate = 2 } = {}) {
  const targets = tf.tidy(() => {
    const p = features(model, content)[CONTENT_LAYER];
    const s = features(model, style);
    const grams = {};
    for (const name of Object.keys(STYLE_LAYERS)) grams[name] = gram(s[name]);
    return { p, grams };
  });
  const x = tf.variable(start);
  const optimizer = tf.train.adam(learningRate, 0.9, 0.999, 1e-8);
  const losses = () => {
    const f = features(model, x);
    const p = targets.p;
    const contentLoss = tf.div(tf.sum(tf.squaredDifference(f[CONTENT_LAYER], p)), 4 * p.size);
    let styleLoss = tf.scalar(0);
    for (const [name, weight] of Object.entries(STYLE_LAYERS)) {
      const [, h, w, n] = f[name].shape;
      const scale = 1 / (2 * n * h * w);
      const e = tf.sum(tf.square(tf.mul(tf.sub(gram(f[name]), targets.grams[name]), scale)));
      styleLoss = tf.add(styleLoss, tf.mul(e, weight));
    }
    return { contentLoss, styleLoss };
  };
  return {
    async step() {
      let parts;
      const total = optimizer.minimize(() => {
        const { contentLoss, styleLoss } = losses();
        parts = tf.keep(tf.stack([contentLoss, styleLoss]));
        return tf.add(tf.mul(contentLoss, contentWeight), tf.mul(styleLoss, styleWeight));
      }, true);
      tf.tidy(() => x.assign(tf.clipByValue(x, 0, 255)));
      const [content, styleValue] = await parts.data();
      parts.dispose();
      total.dispose();
      return { content, style: styleValue };
    },
    dispose() {
      x.dispose();
      optimizer.dispose();
      targets.p.dispose();
      for (const g of Object.values(targets.grams)) g.dispose();
    },
  };
}

/** The first iteration's losses computed in float64 with plain loops, no TF.js (the arbiter of the
 * peers' first-loss check: every peer starts from the content, so its content loss is 0 and its
 * style loss is this one, up to float32 rounding). `tensors` from readPack, `content` and `style`
 * RGBA bytes of `width`×`height`. Slow (seconds at 128 px for the teacher): asked for with
 * browser.mjs's `--reference`. */
export function referenceFirstLosses(tensors, content, style, width, height) {
  // Each convolution as [kH][kW][in][out] float64 (conv1_1's input channels from BGR to RGB).
  const model = LAYERS.map(([name, poolBefore]) => {
    const convs = [];
    for (let k = 0; `${name}.${k}.weight` in tensors; k++) {
      const w = tensors[`${name}.${k}.weight`];
      const [o, i, kh, kw] = w.shape;
      const flip = name === 'conv1_1' && k === 0;
      const kernel = new Float64Array(kh * kw * i * o);
      for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
        kernel[((y * kw + x) * i + (flip ? i - 1 - b : b)) * o + a] = w.data[((a * i + b) * kh + y) * kw + x];
      }
      convs.push({ kernel, bias: Float64Array.from(tensors[`${name}.${k}.bias`].data), o, i, kh, kw });
    }
    return { name, poolBefore, convs };
  });
  const conv = (f, c) => { // f: {h, w, n, data (HWC)}; 'same' zero padding for 3×3
    const { h, w } = f;
    const out = new Float64Array(h * w * c.o);
    const py = (c.kh - 1) / 2, px = (c.kw - 1) / 2;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const acc = out.subarray((y * w + x) * c.o, (y * w + x + 1) * c.o);
      acc.set(c.bias);
      for (let ky = 0; ky < c.kh; ky++) {
        const sy = y + ky - py;
        if (sy < 0 || sy >= h) continue;
        for (let kx = 0; kx < c.kw; kx++) {
          const sx = x + kx - px;
          if (sx < 0 || sx >= w) continue;
          const inBase = (sy * w + sx) * c.i, kBase = (ky * c.kw + kx) * c.i;
          for (let b = 0; b < c.i; b++) {
            const v = f.data[inBase + b];
            if (v === 0) continue;
            const row = (kBase + b) * c.o;
            for (let a = 0; a < c.o; a++) acc[a] += v * c.kernel[row + a];
          }
        }
      }
    }
    return { h, w, n: c.o, data: out };
  };
  const pool = (f) => {
    const h = Math.floor(f.h / 2), w = Math.floor(f.w / 2), n = f.n;
    const out = new Float64Array(h * w * n);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < n; c++) {
      let s = 0;
      for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) s += f.data[((2 * y + dy) * f.w + 2 * x + dx) * n + c];
      out[(y * w + x) * n + c] = s / 4;
    }
    return { h, w, n, data: out };
  };
  const feats = (rgba) => {
    const data = new Float64Array(width * height * 3);
    for (let p = 0; p < width * height; p++) for (let c = 0; c < 3; c++) data[3 * p + c] = rgba[4 * p + c] - MEAN_RGB[c];
    let f = { h: height, w: width, n: 3, data };
    const out = {};
    for (const layer of model) {
      if (layer.poolBefore) f = pool(f);
      for (const [k, c] of layer.convs.entries()) {
        f = conv(f, c);
        if (k === layer.convs.length - 1) for (let j = 0; j < f.data.length; j++) if (f.data[j] < 0) f.data[j] = 0;
      }
      if (layer.name in STYLE_LAYERS || layer.name === CONTENT_LAYER) out[layer.name] = f;
    }
    return out;
  };
  const gram = (f) => {
    const g = new Float64Array(f.n * f.n);
    for (let p = 0; p < f.h * f.w; p++) {
      const v = f.data.subarray(p * f.n, (p + 1) * f.n);
      for (let a = 0; a < f.n; a++) {
        const va = v[a];
        if (va === 0) continue;
        for (let b = 0; b < f.n; b++) g[a * f.n + b] += va * v[b];
      }
    }
    return g;
  };
  const x = feats(content), s = feats(style);
  let styleLoss = 0;
  for (const [name, weight] of Object.entries(STYLE_LAYERS)) {
    const gx = gram(x[name]), gs = gram(s[name]);
    const scale = 1 / (2 * x[name].n * x[name].h * x[name].w);
    let e = 0;
    for (let j = 0; j < gx.length; j++) e += ((gx[j] - gs[j]) * scale) ** 2;
    styleLoss += weight * e;
  }
  return { content: 0, style: styleLoss };
}
