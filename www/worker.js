// The worker that owns the stylization: it initialises the engine (WebGPU, else the CPU with
// the reason), steps the optimization one iteration at a time and posts every iteration's record
// and image to the page. The page never runs the optimization.
//
// Messages in:  {type: 'init', useGpu}
//               {type: 'start', runId, weights: ArrayBuffer|null, weightsKey, content, styles,
//                styleWeights, options, iterations}: styles one ArrayBuffer per painting, blended
//               {type: 'pause'} {type: 'resume', iterations} {type: 'stop'}
// Messages out: {type: 'ready', backend, fallbackReason}
//               {type: 'started', runId, width, height}
//               {type: 'step', runId, record, rgba: ArrayBuffer, width, height}
//               {type: 'paused'|'done'|'stopped', runId, iteration}
//               {type: 'error', runId, message}  (a bad input or setting: the page shows it)
//               {type: 'crash', message}         (the wasm instance aborted: the page restarts us)

import init, { Engine } from '../pkg/impasto.js';

let engine = null;
let loadedKey = null;
// {id, stylizer, target, paused, looping, iteration}. `iteration` is kept here: the stylizer
// cannot be read while a step() is in flight (wasm-bindgen borrows it for the whole call).
let run = null;
let crashed = false;

const post = (msg, transfer = []) => self.postMessage(msg, transfer);

// Let queued messages (pause, stop) in between iterations: the CPU backend computes
// synchronously inside step().
const yieldToEvents = () => new Promise((resolve) => setTimeout(resolve, 0));

function crash(err) {
  crashed = true;
  post({ type: 'crash', message: String(err && err.message ? err.message : err) });
}

function isAbort(err) {
  // A Rust panic aborts the instance: it surfaces as a RuntimeError ("unreachable").
  return err instanceof WebAssembly.RuntimeError;
}

async function loop(current) {
  try {
    while (run === current && !current.paused && current.iteration < current.target) {
      const record = await current.stylizer.step();
      current.iteration = record.iteration;
      const rgba = await current.stylizer.rgba();
      if (run !== current) break; // stopped or replaced while stepping: no stale frame
      const { width, height } = current.stylizer;
      post({ type: 'step', runId: current.id, record, rgba: rgba.buffer, width, height }, [rgba.buffer]);
      await yieldToEvents();
    }
    if (run !== current) return;
    if (current.paused) {
      post({ type: 'paused', runId: current.id, iteration: current.iteration });
    } else {
      post({ type: 'done', runId: current.id, iteration: current.iteration });
    }
  } catch (err) {
    if (isAbort(err)) return crash(err);
    post({ type: 'error', runId: current.id, message: String(err && err.message ? err.message : err) });
  } finally {
    current.looping = false;
    if (run !== current) free(current);
  }
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
        await init();
        engine = await Engine.create(Boolean(msg.useGpu));
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
          const stylizer = msg.styles.length === 1
            ? engine.stylizer(new Uint8Array(msg.content), new Uint8Array(msg.styles[0]), msg.options)
            : engine.stylizerBlend(new Uint8Array(msg.content), msg.styles.map((b) => new Uint8Array(b)), new Float32Array(msg.styleWeights), msg.options);
          run = { id: msg.runId, stylizer, target: msg.iterations, paused: false, looping: true, iteration: 0 };
          post({ type: 'started', runId: msg.runId, width: stylizer.width, height: stylizer.height });
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
          post({ type: 'stopped', runId: r.id, iteration: r.iteration });
          // If a step is in flight the loop ends at its next check; free what is idle now.
          if (!r.looping) free(r);
        }
        break;
      }
      default:
        break;
    }
  } catch (err) {
    crash(err);
  }
};
