// Runs in bench/browser.html. Query: sizes=64,128&iterations=5&model=teacher&peers=impasto,tfjs-webgpu,tfjs-webgl
// (also impasto-direct, impasto-gemm: the convolution route forced, see vgg::ConvAlgorithm).
// Each peer: one warm-up iteration (kernel compilation), then `iterations` timed ones, each with
// its losses read back. Peers: `impasto` and `tfjs-webgpu`/`tfjs-webgl` (the network's iteration,
// losses read back: the like-for-like comparison); `impasto-step-rgba` (step, then the image
// read back: what the page did before stepFrame) and `impasto-frame` (stepFrame: losses and image
// in one readback, what the page does). Result in window.benchResult.
import init, { Engine } from '../pkg/impasto.js';
import { readPack, buildModel, peerRun } from './tfjs/peer.js';

const q = new URLSearchParams(location.search);
const sizes = (q.get('sizes') || '64').split(',').map(Number);
const iterations = Number(q.get('iterations') || 3);
const modelName = q.get('model') || 'teacher';
const peers = (q.get('peers') || 'impasto,tfjs-webgpu,tfjs-webgl').split(',');
const log = (m) => { document.getElementById('log').textContent += `${m}\n`; console.log(m); };

/** A deterministic smooth-plus-stripes RGB image, width×height, as RGBA bytes. */
function pattern(width, height, seed) {
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const i = 4 * (y * width + x);
    for (let c = 0; c < 3; c++) {
      rgba[i + c] = 128 + 100 * Math.sin(x * (0.05 + 0.03 * seed) + c * 2 + seed) * Math.cos(y * (0.07 + 0.02 * c));
    }
    rgba[i + 3] = 255;
  }
  return rgba;
}

async function png(rgba, width, height) {
  const canvas = new OffscreenCanvas(width, height);
  canvas.getContext('2d').putImageData(new ImageData(rgba, width, height), 0, 0);
  return new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer());
}

function tensorOf(rgba, width, height) {
  const rgb = new Float32Array(width * height * 3);
  for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = rgba[4 * i + c];
  return tf.tensor4d(rgb, [1, height, width, 3]);
}

async function time(step) {
  await step(); // warm-up: kernels compiled, buffers allocated
  const times = [];
  let last;
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    last = await step();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { msPerIteration: times[Math.floor(times.length / 2)], times, last };
}

async function run() {
  await init();
  const weights = await (await fetch(`../models/vgg16-${modelName}.bpk`)).arrayBuffer();
  const results = [];
  let engine;
  if (peers.some((p) => p.startsWith('impasto'))) {
    engine = await Engine.create(true);
    if (engine.backend !== 'wgpu') throw new Error(`Impasto has no WebGPU here: ${engine.fallbackReason}`);
    engine.loadModel(new Uint8Array(weights));
    const info = (await navigator.gpu.requestAdapter())?.info || {};
    engine.setAdapter(info.architecture || '', info.description || ''); // as the page does
  }
  const autoConv = engine && engine.convAlgorithm;
  let tfModel;
  for (const size of sizes) {
    const [width, height] = [size, Math.round(size * 3 / 4)];
    const content = pattern(width, height, 1), style = pattern(width, height, 2);
    for (const peer of peers) {
      log(`${peer} ${width}x${height}…`);
      let r;
      if (peer.startsWith('impasto')) {
        // `impasto-direct` / `impasto-gemm`: a convolution route forced; the others take the
        // adapter's (`autoConv`).
        engine.setConvAlgorithm({ 'impasto-direct': 'direct', 'impasto-gemm': 'gemm' }[peer] || autoConv);
        // Starting from the content (init 'content') makes the first iteration's losses a
        // check that both peers compute the same thing.
        const s = engine.stylizer(await png(content, width, height), await png(style, width, height),
          { size, init: 'content', seed: 0 });
        if (s.width !== width || s.height !== height) throw new Error(`Impasto works at ${s.width}x${s.height}`);
        const first = await s.step();
        const step = {
          impasto: () => s.step(),
          'impasto-direct': () => s.step(),
          'impasto-gemm': () => s.step(),
          'impasto-step-rgba': async () => { const rec = await s.step(); await s.rgba(); return rec; },
          'impasto-frame': async () => (await s.stepFrame()).record,
        }[peer];
        if (!step) throw new Error(`unknown peer ${peer}`);
        r = await time(step);
        r.first = { content: first.content, style: first.style };
        r.conv = engine.convAlgorithm;
        s.free();
      } else {
        const backend = peer.replace('tfjs-', '');
        if (!(await tf.setBackend(backend))) throw new Error(`TF.js backend ${backend} is not available`);
        await tf.ready();
        tfModel = buildModel(readPack(weights)); // on this backend
        const c = tensorOf(content, width, height), st = tensorOf(style, width, height);
        const p = peerRun(tfModel, c, st, c);
        const first = await p.step();
        r = await time(() => p.step());
        r.first = first;
        p.dispose(); c.dispose(); st.dispose();
        for (const l of tfModel) for (const cv of l.convs) { cv.kernel.dispose(); cv.bias.dispose(); }
      }
      delete r.last;
      log(`  ${r.msPerIteration.toFixed(1)} ms/iteration; first iteration's style loss ${r.first.style.toExponential(4)}`);
      results.push({ peer, model: modelName, width, height, iterations, ...r });
    }
  }
  return { userAgent: navigator.userAgent, adapter: await adapterInfo(), results };
}

async function adapterInfo() {
  const a = await navigator.gpu?.requestAdapter();
  return a ? { vendor: a.info?.vendor, architecture: a.info?.architecture, description: a.info?.description } : null;
}

window.benchResult = run().catch((e) => ({ error: String(e && e.stack || e) }));
