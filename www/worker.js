// The worker that owns the stylization: it initialises the engine (WebGPU, else the CPU with
// the reason), checks chosen files with the core's decode path, steps the optimization one
// iteration at a time and posts every iteration's record and image to the page. The page never
// runs the optimization.
//
// The page↔worker protocol is the types in protocol.js: tsc (tests/types) checks every message
// this worker reads and posts, and every one the page posts and handles, against them.

/** @typedef {import('./protocol.js').In} In */
/** @typedef {import('./protocol.js').Out} Out */
/** @typedef {import('./protocol.js').Failure} Failure */

import { gpuBytes, devices, onDeviceLost } from './gpu-watch.js';

// The wasm module: pkg/ (WebGPU, and the CPU engine on one thread), or pkg/threads/ (the CPU
// engine on a pool of threads) where the CPU paints and the page is cross-origin isolated.
/** @type {typeof import('../pkg/impasto.js')} */
let impasto;

// (The JSDoc types name the wasm module's classes: tests/types checks these calls against
// pkg/impasto.d.ts and pkg/threads/impasto.d.ts.)
/** @type {import('../pkg/impasto.js').Engine | null} */
let engine = null;
// `iteration` is kept here: the stylizer cannot be read while a step() is in flight
// (wasm-bindgen borrows it for the whole call).
// A shot's run steps one frame's stylizer at a time: `shot` holds the frames and which is painted.
/** @typedef {{shot: import('../pkg/impasto.js').WebShot, frames: (ArrayBuffer | null)[], index: number}} Shot */
/** @typedef {{id: number, stylizer: import('../pkg/impasto.js').WebStylizer | null, paused: boolean, looping: boolean,
 *   finished: boolean, iteration: number, planned: boolean, shot: Shot | null}} Run */
/** @type {Run | null} */
let run = null;
let crashed = false;
let faults = false;
let wasmMemory = null; // the module's linear memory: its size goes with every end-of-run message
let loaded;
// Models the page could not fetch (name → why), and runs waiting for a model (name → wake-ups).
const unavailable = new Map();
const waiting = new Map();
const wake = (name) => { for (const w of waiting.get(name) ?? []) w(); waiting.delete(name); };
// A pause or a stop ends a wait too (the loop then says 'paused', or ends).
const wakeAll = () => { for (const name of [...waiting.keys()]) wake(name); };
const modelCame = (name) => new Promise((resolve) => { waiting.set(name, [...(waiting.get(name) ?? []), resolve]); });
const wasmReady = new Promise((resolve) => { loaded = resolve; }); // checks wait for the module

const wasmBytes = () => (wasmMemory ? wasmMemory.buffer.byteLength : 0);

const memory = () => ({ wasmBytes: wasmBytes(), gpuBytes: gpuBytes() });

// A lost GPU device (a driver reset, a sleeping laptop's GPU, or the fault test) cannot be used
// again: the worker reports it once and the page starts a fresh one.
onDeviceLost((message) => {
  crashed = true; // nothing more runs on this instance
  end({ type: 'lost', message });
});

/** @param {Out} msg @param {Transferable[]} [transfer] */
const post = (msg, transfer = []) => self.postMessage(msg, transfer);

// Let queued messages (pause, stop) in between iterations: the CPU backend computes
// synchronously inside step().
const yieldToEvents = () => new Promise((resolve) => setTimeout(resolve, 0));

// The instance's end is reported once: a lost device often makes a step abort too, and the
// loss is the cause worth telling, so an abort waits a moment for the device's verdict.
let ended = false;
/** @param {Out} msg */
function end(msg) {
  if (ended) return;
  ended = true;
  post(msg);
}

/**
 * A thrown error as data (protocol.js's Failure).
 * @param {any} err
 * @returns {Failure}
 */
function failure(err) {
  return {
    message: String(err && err.message ? err.message : err),
    kind: typeof err?.kind === 'string' ? err.kind : null,
    input: typeof err?.input === 'string' ? err.input : null,
  };
}

function crash(err) {
  crashed = true;
  const { message } = failure(err);
  setTimeout(() => end({ type: 'crash', message }), 250);
}

function isAbort(err) {
  // A Rust panic aborts the instance: it surfaces as a RuntimeError ("unreachable").
  return err instanceof WebAssembly.RuntimeError;
}

/** @param {Run} current */
async function loop(current) {
  try {
    while (run === current && !current.paused && !current.finished) {
      // A finishing model on its way ('auto': the teacher, fetched while the smaller sizes
      // paint): given as soon as it is here; the last size waits for it, or for word that it
      // will not come.
      const pending = current.stylizer.pendingModel;
      if (pending && engine.hasModel(pending)) {
        engine.finishWith(current.stylizer);
      } else if (pending && unavailable.has(pending)) {
        current.stylizer.finishWithout();
        post({ type: 'models', runId: current.id, models: current.stylizer.stageModels, without: unavailable.get(pending) });
      } else if (pending && current.stylizer.awaitsModel) {
        post({ type: 'awaiting', runId: current.id, model: pending });
        await modelCame(pending);
        continue;
      }
      // One readback for the losses and the frame (a readback waits for the GPU).
      const frame = await current.stylizer.stepFrame();
      const { record, rgba } = frame;
      frame.free(); // the wasm side's handles; record and rgba stay ours
      current.iteration = record.iteration;
      if (run !== current) break; // stopped or replaced while stepping: no stale frame
      current.finished = record.finished; // the core says when the run is complete
      const { width, height } = current.stylizer;
      // A shot's painted frame is where the next starts (a copy: the step's pixels go to the page).
      const painted = current.finished && current.shot ? new Uint8Array(rgba) : null;
      const pixels = /** @type {ArrayBuffer} */ (rgba.buffer); // the module's own copy, never shared
      post({ type: 'step', runId: current.id, record, rgba: pixels, width, height }, [pixels]);
      if (painted && current.shot) {
        if (!(await nextFrame(current, painted, width, height))) break;
        continue;
      }
      const line = current.planned ? null : current.stylizer.planLine;
      if (line) {
        current.planned = true;
        post({
          type: 'planned', runId: current.id, line, sides: Array.from(current.stylizer.sides),
          models: current.stylizer.stageModels, total: current.stylizer.totalIterations ?? null,
        });
      }
      await yieldToEvents();
    }
    if (run !== current) return;
    const type = current.finished ? 'done' : 'paused';
    post({ type, runId: current.id, iteration: current.iteration, ...memory() });
  } catch (err) {
    // A step that fails because the device was lost: let the device's verdict arrive first, so
    // the loss is what gets reported (once, by its watcher).
    if (!isAbort(err) && devices.length) await new Promise((resolve) => setTimeout(resolve, 250));
    if (crashed) return;
    if (isAbort(err)) return crash(err);
    post({ type: 'error', runId: current.id, ...failure(err) });
  } finally {
    current.looping = false;
    if (run !== current) free(current);
  }
}

/**
 * A shot's frame is painted: the page gets it, the shot keeps it as the next frame's start, and
 * the next frame's run replaces the finished one. False where the run was stopped meanwhile.
 * @param {Run} current @param {Uint8Array} painted @param {number} width @param {number} height
 */
async function nextFrame(current, painted, width, height) {
  const s = /** @type {Shot} */ (current.shot);
  s.shot.painted(painted);
  const pixels = /** @type {ArrayBuffer} */ (painted.buffer);
  post({ type: 'frame', runId: current.id, index: s.index, rgba: pixels, width, height }, [pixels]);
  if (s.index + 1 >= s.frames.length) return true; // the last: the loop says 'done'
  s.frames[s.index] = null; // the shot keeps what the next frame needs of it
  s.index += 1;
  current.stylizer?.free();
  current.stylizer = null;
  current.stylizer = await s.shot.frame(new Uint8Array(/** @type {ArrayBuffer} */ (s.frames[s.index])));
  if (run !== current) return false;
  current.finished = false;
  post({ type: 'frame-start', runId: current.id, index: s.index, n: s.frames.length });
  return true;
}

/** The WebGPU adapter this browser offers: its name, and whether it is a software emulation
 * (SwiftShader and the like: far slower than the CPU engine). Null without WebGPU. */
async function gpuAdapter() {
  try {
    const adapter = await self.navigator?.gpu?.requestAdapter();
    if (!adapter) return null;
    const info = adapter.info || {};
    const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ');
    const software = Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe|software/i.test(name);
    return { name, software };
  } catch { return null; }
}

// Plain objects from the core (serde may hand over Maps).
function plain(v) {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, plain(x)]));
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/**
 * Can the core use this image? Its own decode path, as a run will read it.
 * @param {Extract<In, {type: 'check'}>} msg
 * @returns {Promise<{ok: true, width: number, height: number} | {ok: false, message: string} | null>}
 */
async function check(msg) {
  await wasmReady;
  try {
    const { width, height } = plain(impasto.checkImage(new Uint8Array(msg.bytes), msg.what));
    return { ok: true, width, height };
  } catch (err) {
    if (isAbort(err)) { crash(err); return null; }
    return { ok: false, message: failure(err).message };
  }
}

// What the GPU holds, for the engine's choice of the largest size. burn asks WebGPU for the
// adapter's own limits, so the adapter's are the device's. WebGPU does not say how much memory a
// GPU has: a run may take half of what `navigator.deviceMemory` reports (Chrome caps that at 8 GB;
// 4 GB assumed where it is missing).
async function tellBudget() {
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return;
    const maxBuffer = Math.min(adapter.limits.maxStorageBufferBindingSize, adapter.limits.maxBufferSize);
    const memory = (navigator.deviceMemory || 4) * 2 ** 30 / 2;
    engine.setBudget(maxBuffer, memory);
    // The adapter's name picks the faster convolution route (direct on SwiftShader).
    const info = adapter.info || {};
    engine.setAdapter(info.architecture || '', info.description || '');
  } catch { /* keep WebGPU's default limits */ }
}

// The most threads the CPU engine starts (each a worker with its own stack): what one tab may take
// of a many-core machine.
const MAX_THREADS = 16;
// How long the thread pool may take to start (a worker each: a second or two on a slow phone).
const POOL_TIMEOUT_MS = 20_000;

/**
 * Load the wasm module: the threaded one where `cpu` (the CPU will paint) and the page may share
 * memory between threads (cross-origin isolated), else the plain one — also where the threaded
 * one fails to load or start (an old browser, too little address space for its shared memory).
 * @param {boolean} cpu
 * @returns {Promise<{threads: number, threadsReason: string | null}>} how many threads the CPU
 *   engine computes on, and why only one where it could have had more
 */
async function load(cpu) {
  const cores = Math.min(navigator.hardwareConcurrency || 1, MAX_THREADS);
  let threadsReason = null;
  if (!cpu) {
    // WebGPU paints: the plain module has it
  } else if (cores < 2) {
    threadsReason = 'this device offers one core';
  } else if (!self.crossOriginIsolated) {
    threadsReason = 'the page is not cross-origin isolated, so its workers cannot share memory';
  } else {
    try {
      const threaded = await import('../pkg/threads/impasto.js');
      wasmMemory = (await threaded.default()).memory;
      // A pool whose workers never come up (blocked by a policy, out of memory) must not leave
      // the page waiting for an engine: after a while it paints on one thread instead.
      await Promise.race([threaded.initThreadPool(cores), new Promise((_, reject) => setTimeout(
        () => reject(new Error(`its ${cores} workers did not start within ${POOL_TIMEOUT_MS / 1000} s`)), POOL_TIMEOUT_MS))]);
      impasto = /** @type {any} */ (threaded); // the same exports, and the thread pool's
      return { threads: threaded.threadCount(), threadsReason: null };
    } catch (err) {
      threadsReason = `the threaded engine could not start (${failure(err).message})`;
    }
  }
  impasto = await import('../pkg/impasto.js');
  wasmMemory = (await impasto.default()).memory;
  return { threads: 1, threadsReason };
}

/** @param {Run | null} r */
function free(r) {
  if (!r || r.looping) return;
  r.stylizer?.free();
  r.stylizer = null;
  r.shot?.shot.free();
  r.shot = null;
}

/** Start a shot (the 'shot' message): its first frame's run is made before any step.
 * @param {Extract<In, {type: 'shot'}>} msg */
async function startShot(msg) {
  const styles = msg.styles.map((b) => new Uint8Array(b));
  const weights = new Float32Array(msg.styleWeights);
  const frame = (k) => new Uint8Array(/** @type {ArrayBuffer} */ (msg.frames[k]));
  const shot = engine.shot(msg.width, msg.height, frame(0), styles, weights, msg.options, undefined);
  /** @type {Run} */
  const current = {
    id: msg.runId, stylizer: null, paused: false, looping: true, iteration: 0, finished: false, planned: true,
    shot: { shot, frames: msg.frames, index: msg.from },
  };
  run = current;
  try {
    if (msg.previous) shot.goOnAfter(frame(msg.from - 1), new Uint8Array(msg.previous));
    for (let k = 0; k < msg.from; k++) msg.frames[k] = null;
    current.stylizer = await shot.frame(frame(msg.from));
  } catch (err) {
    current.looping = false;
    if (run === current) run = null;
    free(current); // (the shot with it, stopped meanwhile or not)
    throw err;
  }
  current.looping = false;
  if (run !== current) { free(current); return; } // stopped meanwhile
  const { stylizer } = current;
  post({
    type: 'started', runId: msg.runId, width: shot.width, height: shot.height, sides: Array.from(stylizer.sides),
    models: stylizer.stageModels, total: stylizer.totalIterations ?? null, pending: null,
    notice: shot.withoutFinish ? 'VGG16 could not be loaded, so the frames painted now are painted with the distilled network.' : null,
  });
  post({ type: 'frame-start', runId: msg.runId, index: msg.from, n: msg.frames.length });
  current.looping = true;
  loop(current);
}

self.onmessage = async (event) => {
  const msg = /** @type {In} */ (event.data);
  if (crashed) return;
  try {
    switch (msg.type) {
      case 'init': {
        faults = Boolean(msg.faults);
        // 'auto': WebGPU unless it is a software emulation, which is slower than the CPU engine.
        const adapter = msg.device === 'cpu' ? null : await gpuAdapter();
        const useGpu = msg.device === 'gpu' || (msg.device !== 'cpu' && !adapter?.software);
        let { threads, threadsReason } = await load(!(useGpu && (adapter || msg.device === 'gpu')));
        loaded();
        post({
          type: 'config', presets: plain(impasto.presets()), defaults: plain(impasto.defaultOptions()),
          bounds: plain(impasto.bounds()), choices: plain(impasto.choices()), pictureSettings: plain(impasto.pictureSettings()),
          models: plain(impasto.models()),
        });
        engine = await impasto.Engine.create(useGpu);
        if (engine.backend === 'wgpu') await tellBudget();
        // WebGPU was expected and failed to start: the module loaded for it paints on one thread.
        if (engine.backend === 'cpu' && threads === 1 && !threadsReason && (navigator.hardwareConcurrency || 1) > 1) {
          threadsReason = 'the engine was loaded for WebGPU, which did not start (Advanced → Compute: CPU uses every core)';
        }
        const reason = engine.backend === 'wgpu' ? null : msg.device === 'cpu' ? 'chosen' : adapter?.software ? 'software' : null;
        post({
          type: 'ready', backend: engine.backend, fallbackReason: engine.fallbackReason ?? null, reason,
          software: engine.backend === 'wgpu' && Boolean(adapter?.software), adapter: adapter?.name || null,
          threads: engine.backend === 'wgpu' ? null : threads, threadsReason: engine.backend === 'wgpu' ? null : threadsReason,
        });
        break;
      }
      case 'check': {
        const verdict = await check(msg);
        if (verdict) post({ type: 'checked', id: msg.id, slot: msg.slot, ...verdict });
        break;
      }
      case 'model':
        try {
          engine.loadModel(msg.key, new Uint8Array(msg.weights));
          unavailable.delete(msg.key);
        } catch (err) {
          if (isAbort(err)) return crash(err);
          const { message } = failure(err);
          unavailable.set(msg.key, message);
          post({ type: 'model-error', key: msg.key, message });
        }
        wake(msg.key);
        break;
      case 'model-unavailable':
        if (run && run.id !== msg.runId) break; // an earlier run's fetch: this run's is its own
        unavailable.set(msg.key, msg.message);
        wake(msg.key);
        break;
      case 'start': {
        const previous = run;
        run = null;
        free(previous);
        wakeAll(); // a run replaced while it waited for a model ends
        unavailable.clear(); // the page tries a failed download again for each run
        try {
          const content = new Uint8Array(msg.content);
          const styles = msg.styles.map((b) => new Uint8Array(b));
          const weights = new Float32Array(msg.styleWeights);
          const { resume } = msg;
          const stylizer = resume
            ? engine.stylizerResume(content, styles, weights, msg.options, new Uint8Array(resume.rgba),
              { width: resume.width, height: resume.height, done: resume.done, onward: Boolean(resume.onward) })
            : engine.stylizerBlend(content, styles, weights, msg.options);
          const sides = Array.from(stylizer.sides);
          const models = stylizer.stageModels;
          // The core's count of iterations (null where it stops by itself).
          const total = stylizer.totalIterations ?? null;
          run = { id: msg.runId, stylizer, paused: false, looping: true, iteration: 0, finished: false, planned: false, shot: null };
          post({
            type: 'started', runId: msg.runId, width: stylizer.width, height: stylizer.height, sides, models, total,
            notice: stylizer.notice ?? null, pending: stylizer.pendingModel ?? null,
          });
          loop(run);
        } catch (err) {
          if (isAbort(err)) return crash(err);
          post({ type: 'error', runId: msg.runId, ...failure(err) });
        }
        break;
      }
      case 'shot': {
        const previous = run;
        run = null;
        free(previous);
        wakeAll();
        try {
          await startShot(msg); // (it frees what it made, where it fails)
        } catch (err) {
          if (isAbort(err)) return crash(err);
          post({ type: 'error', runId: msg.runId, ...failure(err) });
        }
        break;
      }
      case 'pause':
        if (run) run.paused = true;
        wakeAll();
        break;
      case 'resume':
        if (run && !run.looping) {
          run.paused = false;
          run.looping = true;
          loop(run);
        } else if (run) {
          run.paused = false;
        }
        break;
      case 'stop': {
        const r = run;
        run = null;
        wakeAll();
        if (r) {
          post({ type: 'stopped', runId: r.id, iteration: r.iteration, ...memory() });
          // If a step is in flight the loop ends at its next check; free what is idle now.
          if (!r.looping) free(r);
        }
        break;
      }
      case 'lose-device':
        if (faults) for (const d of devices) d.destroy();
        break;
      default:
        break;
    }
  } catch (err) {
    crash(err);
  }
};
