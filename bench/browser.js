// Runs in bench/browser.html. Query: sizes=64,128&iterations=5&model=teacher&peers=impasto,tfjs-webgpu,tfjs-webgl
// [&wasmThreads=N][&reference=1][&warmupMs=3000]. Each peer: warm-up iterations (at least one, for
// at least warmupMs), then `iterations` timed ones, each with its losses read back; at each size
// the peers run one after the other, in the order given. Result in window.benchResult.
//
// Impasto's peers, on WebGPU (`Engine.create(true)`): `impasto` (the adapter's convolution route),
// `impasto-direct`, `impasto-gemm` (a route forced, see vgg::ConvAlgorithm); `impasto-step-rgba`
// (step, then the image read back: what the page did before stepFrame) and `impasto-frame`
// (stepFrame: losses and image in one readback, what the page does). On Impasto's CPU engine
// (`Engine.create(false)`: burn-flex in wasm, what a browser without WebGPU gets): `impasto-cpu`
// (the CPU's route), `impasto-cpu-direct`, `impasto-cpu-gemm`.
// TF.js's (bench/tfjs/peer.js: same network, losses and Adam): `tfjs-webgpu`, `tfjs-webgl`,
// `tfjs-wasm` (@tensorflow/tfjs-backend-wasm: XNNPACK, SIMD where the browser has it, threads only
// where the page is cross-origin isolated — SharedArrayBuffer — as many as `wasmThreads` or the
// cores) and `tfjs-cpu` (plain JavaScript).
import { readPack, buildModel, peerRun, referenceFirstLosses } from './tfjs/peer.js';

const q = new URLSearchParams(location.search);
const sizes = (q.get('sizes') || '64').split(',').map(Number);
const iterations = Number(q.get('iterations') || 3);
// Height over width: 3/4 by default; 1 for square images, as `impasto-lab bench` times.
const aspect = Number(q.get('aspect') || 0.75);
const modelName = q.get('model') || 'teacher';
const peers = (q.get('peers') || 'impasto,tfjs-webgpu,tfjs-webgl').split(',');
const wasmThreads = q.get('wasmThreads') ? Number(q.get('wasmThreads')) : null;
const warmupMs = Number(q.get('warmupMs') || 0);
const reference = q.get('reference') === '1'; // the first losses in float64 too (tfjs/peer.js)
const log = (m) => { document.getElementById('log').textContent += `${m}\n`; console.log(m); };

/** Impasto's peers: which engine, and the convolution route forced (null: the engine's own). */
const IMPASTO = {
  impasto: { gpu: true, conv: null },
  'impasto-direct': { gpu: true, conv: 'direct' },
  'impasto-gemm': { gpu: true, conv: 'gemm' },
  'impasto-step-rgba': { gpu: true, conv: null },
  'impasto-frame': { gpu: true, conv: null },
  'impasto-cpu': { gpu: false, conv: null },
  'impasto-cpu-direct': { gpu: false, conv: 'direct' },
  'impasto-cpu-gemm': { gpu: false, conv: 'gemm' },
};
const TFJS = ['tfjs-webgpu', 'tfjs-webgl', 'tfjs-wasm', 'tfjs-cpu'];

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
  // Warm-up: kernels compiled, buffers allocated, and the wasm engines' hot functions tiered up
  // (V8 starts wasm in its baseline compiler and optimises hot functions in the background: on a
  // busy 2-core machine Impasto's first few CPU iterations ran 5–10× slower than the later ones),
  // so at least one iteration and at least `warmupMs`.
  const warmupTimes = [];
  const warmupStart = performance.now();
  do {
    const t0 = performance.now();
    await step();
    warmupTimes.push(performance.now() - t0);
  } while (performance.now() - warmupStart < warmupMs);
  const times = [];
  let last;
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    last = await step();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  // The median, and the fastest (the least disturbed by other work on a shared machine).
  return { msPerIteration: times[Math.floor(times.length / 2)], msMin: times[0], times, warmupTimes, last };
}

/** The engine for Impasto's WebGPU or CPU peers, created once, with the model loaded. */
async function impastoEngine(gpu, weights, Engine) {
  const engine = await Engine.create(gpu);
  if (gpu && engine.backend !== 'wgpu') throw new Error(`Impasto has no WebGPU here: ${engine.fallbackReason}`);
  if (!gpu && engine.backend !== 'cpu') throw new Error(`Impasto's CPU engine came up as ${engine.backend}`);
  engine.loadModel(modelName, new Uint8Array(weights));
  if (gpu) {
    const info = (await navigator.gpu.requestAdapter())?.info || {};
    engine.setAdapter(info.architecture || '', info.description || ''); // as the page does
  }
  return { engine, autoConv: engine.convAlgorithm };
}

/** Switch TF.js to `backend` (for wasm: its binaries from bench/tfjs's node_modules, and the
 * thread count asked for, before the backend first starts); what it runs on. */
async function tfBackend(backend) {
  if (backend === 'wasm') {
    if (!tf.wasm) throw new Error('@tensorflow/tfjs-backend-wasm is not loaded: run (cd bench/tfjs && npm ci)');
    if (!tfBackend.wasmConfigured) {
      tf.wasm.setWasmPaths(new URL('tfjs/node_modules/@tensorflow/tfjs-backend-wasm/dist/', location.href).href);
      if (wasmThreads) tf.wasm.setThreadsCount(wasmThreads);
      tfBackend.wasmConfigured = true;
    }
  }
  if (!(await tf.setBackend(backend))) throw new Error(`TF.js backend ${backend} is not available`);
  await tf.ready();
  const engine = { backend: tf.getBackend() };
  if (backend === 'wasm') {
    engine.simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    engine.multithreadSupport = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    engine.binary = engine.simd ? (engine.multithreadSupport ? 'tfjs-backend-wasm-threaded-simd.wasm' : 'tfjs-backend-wasm-simd.wasm')
      : 'tfjs-backend-wasm.wasm';
    engine.threads = tf.wasm.getThreadsCount();
  }
  return engine;
}

async function run() {
  for (const p of peers) if (!(p in IMPASTO) && !TFJS.includes(p)) throw new Error(`unknown peer ${p}`);
  const weights = await (await fetch(`../models/vgg16-${modelName}.bpk`)).arrayBuffer();
  const results = [];
  const engines = {};
  if (peers.some((p) => p in IMPASTO)) {
    const { default: init, Engine } = await import('../pkg/impasto.js'); // only where Impasto runs
    await init();
    for (const gpu of [true, false]) {
      if (peers.some((p) => IMPASTO[p]?.gpu === gpu)) engines[gpu] = await impastoEngine(gpu, weights, Engine);
    }
  }
  let tfModel;
  const references = [];
  for (const size of sizes) {
    const [width, height] = [size, Math.round(size * aspect)];
    const content = pattern(width, height, 1), style = pattern(width, height, 2);
    if (reference) {
      const t0 = performance.now();
      const first = referenceFirstLosses(readPack(weights), content, style, width, height);
      references.push({ model: modelName, size, width, height, first, ms: performance.now() - t0 });
      log(`float64 reference ${width}x${height}: first iteration's style loss ${first.style.toExponential(6)}`);
    }
    for (const peer of peers) {
      log(`${peer} ${width}x${height}…`);
      let r;
      if (peer in IMPASTO) {
        const { engine, autoConv } = engines[IMPASTO[peer].gpu];
        engine.setConvAlgorithm(IMPASTO[peer].conv || autoConv);
        // Starting from the content (init 'content') makes the first iteration's losses a
        // check that both peers compute the same thing.
        const s = engine.stylizer(await png(content, width, height), await png(style, width, height),
          { model: modelName, size, init: 'content', seed: 0, coarseToFine: false });
        if (s.width !== width || s.height !== height) throw new Error(`Impasto works at ${s.width}x${s.height}`);
        const first = await s.step();
        const step = {
          'impasto-step-rgba': async () => { const rec = await s.step(); await s.rgba(); return rec; },
          'impasto-frame': async () => { const f = await s.stepFrame(); const rec = f.record; f.free(); return rec; },
        }[peer] || (() => s.step());
        r = await time(step);
        r.first = { content: first.terms.content, style: first.terms.style };
        r.engine = { backend: engine.backend, conv: engine.convAlgorithm };
        s.free();
      } else {
        r = { engine: await tfBackend(peer.replace('tfjs-', '')) };
        tfModel = buildModel(readPack(weights)); // on this backend
        const c = tensorOf(content, width, height), st = tensorOf(style, width, height);
        const p = peerRun(tfModel, c, st, c);
        const first = await p.step();
        Object.assign(r, await time(() => p.step()));
        r.first = first;
        p.dispose(); c.dispose(); st.dispose();
        for (const l of tfModel) for (const cv of l.convs) { cv.kernel.dispose(); cv.bias.dispose(); }
      }
      delete r.last;
      log(`  ${r.msPerIteration.toFixed(1)} ms/iteration; first iteration's style loss ${r.first.style.toExponential(6)}`);
      results.push({ peer, model: modelName, size, width, height, iterations, crossOriginIsolated, ...r });
    }
  }
  return {
    userAgent: navigator.userAgent,
    // bench/browser.mjs --wasm-threads may show TF.js more cores than there are: both counts.
    hardwareConcurrency: window.realHardwareConcurrency ?? navigator.hardwareConcurrency,
    hardwareConcurrencySeen: navigator.hardwareConcurrency,
    crossOriginIsolated,
    references,
    adapter: peers.some((p) => IMPASTO[p]?.gpu || p === 'tfjs-webgpu') ? await adapterInfo() : null,
    results,
  };
}

async function adapterInfo() {
  const a = await navigator.gpu?.requestAdapter();
  return a ? { vendor: a.info?.vendor, architecture: a.info?.architecture, description: a.info?.description } : null;
}

window.benchResult = run().catch((e) => ({ error: String(e && e.stack || e) }));
