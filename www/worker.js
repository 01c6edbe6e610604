// The worker that owns the stylization: it initialises the engine (WebGPU, else the CPU with
// the reason), steps the optimization one iteration at a time and posts every iteration's record
// and image to the page. The page never runs the optimization.
//
// Messages in:  {type: 'init', useGpu, faults}: faults enables 'lose-device' (tests only)
//               {type: 'start', runId, weights: ArrayBuffer|null, weightsKey, content, styles,
//                styleWeights, options, iterations}: styles one ArrayBuffer per painting, blended
//                resume: {rgba: ArrayBuffer, width, height, done} to continue from a kept image,
//                done iterations into the run (iterations: those left)
//               {type: 'pause'} {type: 'resume', iterations} {type: 'stop'}
//               {type: 'lose-device'}: destroy the GPU device, as a driver reset would (tests)
// Messages out: {type: 'ready', backend, fallbackReason}
//               {type: 'started', runId, width, height, sides, total, notice}: sides the long
//                side of each stage (one unless coarse to fine), total the iterations of all of
//                them, notice why the size differs from the one asked for (or null)
//               {type: 'step', runId, record, rgba: ArrayBuffer, width, height}
//               {type: 'paused'|'done'|'stopped', runId, iteration, wasmBytes, gpuBytes}: the
//                engine's memory: wasm linear memory (it never shrinks: a leak shows as growth)
//                and the bytes of live WebGPU buffers
//               {type: 'error', runId, message}  (a bad input or setting: the page shows it)
//               {type: 'crash', message}         (the wasm instance aborted: the page restarts us)
//               {type: 'lost', message}          (the GPU device was lost: the page restarts us and
//                                                 offers to resume from the last image)

import init, { Engine } from '../pkg/impasto.js';

let engine = null;
let loadedKey = null;
// {id, stylizer, target, paused, looping, iteration}. `iteration` is kept here: the stylizer
// cannot be read while a step() is in flight (wasm-bindgen borrows it for the whole call).
let run = null;
let crashed = false;
let faults = false;
let wasmMemory = null; // the module's linear memory: its size goes with every end-of-run message

const wasmBytes = () => (wasmMemory ? wasmMemory.buffer.byteLength : 0);

// GPU memory the engine holds: the bytes of the WebGPU buffers it created and has not destroyed
// (WebGPU has no query for a device's memory; every buffer burn allocates passes through here).
let gpuBytes = 0;
if (self.GPUDevice) {
  const createBuffer = GPUDevice.prototype.createBuffer;
  GPUDevice.prototype.createBuffer = function counted(descriptor) {
    const buffer = createBuffer.call(this, descriptor);
    const { size } = buffer;
    gpuBytes += size;
    const destroy = buffer.destroy;
    let live = true;
    buffer.destroy = function destroyCounted() {
      if (live) { live = false; gpuBytes -= size; }
      return destroy.call(this);
    };
    return buffer;
  };
}
const memory = () => ({ wasmBytes: wasmBytes(), gpuBytes });

// Every GPU device burn opens here, watched for loss (a driver reset, a sleeping laptop's GPU,
// or `device.destroy()` from the fault test): a lost device cannot be used again, so the worker
// reports it once and the page starts a fresh one.
const devices = [];
if (self.GPUAdapter) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function watched(...args) {
    const device = await requestDevice.apply(this, args);
    devices.push(device);
    device.lost.then((info) => {
      crashed = true; // nothing more runs on this instance
      end({ type: 'lost', message: info.message || `the GPU device was lost (${info.reason})` });
    });
    return device;
  };
}

const post = (msg, transfer = []) => self.postMessage(msg, transfer);

// Let queued messages (pause, stop) in between iterations: the CPU backend computes
// synchronously inside step().
const yieldToEvents = () => new Promise((resolve) => setTimeout(resolve, 0));

// The instance's end is reported once: a lost device often makes a step abort too, and the
// loss is the cause worth telling, so an abort waits a moment for the device's verdict.
let ended = false;
function end(msg) {
  if (ended) return;
  ended = true;
  post(msg);
}

function crash(err) {
  crashed = true;
  const message = String(err && err.message ? err.message : err);
  setTimeout(() => end({ type: 'crash', message }), 250);
}

function isAbort(err) {
  // A Rust panic aborts the instance: it surfaces as a RuntimeError ("unreachable").
  return err instanceof WebAssembly.RuntimeError;
}

async function loop(current) {
  try {
    while (run === current && !current.paused && current.iteration < current.target) {
      // One readback for the losses and the frame (a readback waits for the GPU).
      const { record, rgba } = await current.stylizer.stepFrame();
      current.iteration = record.iteration;
      if (run !== current) break; // stopped or replaced while stepping: no stale frame
      const { width, height } = current.stylizer;
      post({ type: 'step', runId: current.id, record, rgba: rgba.buffer, width, height }, [rgba.buffer]);
      await yieldToEvents();
    }
    if (run !== current) return;
    if (current.paused) {
      post({ type: 'paused', runId: current.id, iteration: current.iteration, ...memory() });
    } else {
      post({ type: 'done', runId: current.id, iteration: current.iteration, ...memory() });
    }
  } catch (err) {
    // A step that fails because the device was lost: let the device's verdict arrive first, so
    // the loss is what gets reported (once, by its watcher).
    if (!isAbort(err) && devices.length) await new Promise((resolve) => setTimeout(resolve, 250));
    if (crashed) return;
    if (isAbort(err)) return crash(err);
    post({ type: 'error', runId: current.id, message: String(err && err.message ? err.message : err) });
  } finally {
    current.looping = false;
    if (run !== current) free(current);
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

function free(r) {
  if (r && r.stylizer && !r.looping) {
    r.stylizer.free();
    r.stylizer = null;
  }
}

self.onmessage = async (event) => {
  const msg = event.data;
  if (crashed) return;
  try {
    switch (msg.type) {
      case 'init': {
        faults = Boolean(msg.faults);
        wasmMemory = (await init()).memory;
        engine = await Engine.create(Boolean(msg.useGpu));
        if (engine.backend === 'wgpu') await tellBudget();
        post({ type: 'ready', backend: engine.backend, fallbackReason: engine.fallbackReason ?? null });
        break;
      }
      case 'start': {
        const previous = run;
        run = null;
        free(previous);
        try {
          if (msg.weights && loadedKey !== msg.weightsKey) {
            engine.loadModel(new Uint8Array(msg.weights));
            loadedKey = msg.weightsKey;
          }
          const content = new Uint8Array(msg.content);
          const styles = msg.styles.map((b) => new Uint8Array(b));
          const weights = new Float32Array(msg.styleWeights);
          const stylizer = msg.resume
            ? engine.stylizerResume(content, styles, weights, msg.options, new Uint8Array(msg.resume.rgba), msg.resume.width,
              msg.resume.height, msg.resume.done)
            : engine.stylizerBlend(content, styles, weights, msg.options);
          const sides = Array.from(stylizer.sides);
          // Coarse to fine: the page's iterations are per stage; a resumed run's are those left.
          const total = msg.resume ? msg.iterations : msg.iterations * sides.length;
          run = { id: msg.runId, stylizer, target: total, paused: false, looping: true, iteration: 0 };
          post({
            type: 'started', runId: msg.runId, width: stylizer.width, height: stylizer.height, sides, total,
            notice: stylizer.notice ?? null,
          });
          loop(run);
        } catch (err) {
          if (isAbort(err)) return crash(err);
          post({ type: 'error', runId: msg.runId, message: String(err && err.message ? err.message : err) });
        }
        break;
      }
      case 'pause':
        if (run) run.paused = true;
        break;
      case 'resume':
        if (run && !run.looping) {
          run.paused = false;
          if (msg.iterations) run.target = msg.iterations;
          run.looping = true;
          loop(run);
        } else if (run) {
          run.paused = false;
        }
        break;
      case 'stop': {
        const r = run;
        run = null;
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
