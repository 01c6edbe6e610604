// The engine's worker: started, restarted, and the one place its messages arrive. Other modules
// register what they do with each message type (on), and send with post.

import { $ } from './dom.js';
import { state } from './state.js';
import { updateButtons } from './ui.js';

/** @typedef {import('./protocol.js').In} In */
/** @typedef {import('./protocol.js').Out} Out */

const handlers = new Map();

/**
 * Call `fn(msg)` for every message of this type from the current worker.
 * @template {Out['type']} T
 * @param {T} type
 * @param {(msg: Extract<Out, {type: T}>) => void} fn
 */
export function on(type, fn) { handlers.set(type, fn); }

/**
 * @param {In} msg
 * @param {Transferable[]} [transfer]
 */
export function post(msg, transfer = []) { state.worker?.postMessage(msg, transfer); }

/** A fresh worker with the chosen compute ('auto', 'gpu' or 'cpu'); the old one, if any, ends. */
export function startWorker(device) {
  state.worker?.terminate();
  state.ready = false;
  state.loadedModels = new Set();
  updateButtons();
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  state.worker = worker;
  // Only the current worker is heard (a replaced one may still have messages on their way).
  worker.onmessage = (e) => { if (state.worker === worker) dispatch(e.data); };
  worker.onerror = (e) => {
    if (state.worker === worker) dispatch({ type: 'crash', message: e.message || 'the worker failed to load' });
  };
  worker.postMessage({ type: 'init', device, faults: location.hash.includes('faults') });
  $('engine').textContent = 'Starting the engine…';
}

/** @param {Out} msg */
function dispatch(msg) {
  if ('runId' in msg && msg.runId !== state.runId) return; // a stale run
  // The engine's memory, for diagnostics (and the memory tests): data attributes, not shown.
  if ('wasmBytes' in msg && msg.wasmBytes) $('engine').dataset.wasmBytes = String(msg.wasmBytes);
  if ('gpuBytes' in msg && msg.gpuBytes !== undefined) $('engine').dataset.gpuBytes = String(msg.gpuBytes);
  handlers.get(msg.type)?.(msg);
}

/** The engine line: what runs the painting, in plain words, and honest about software GPUs. */
export function describeEngine(msg) {
  if (msg.backend === 'wgpu') {
    return msg.software
      ? 'running on WebGPU, but it is software GPU emulation — slow; the CPU may be faster (Advanced → Compute).'
      : 'running on your GPU (WebGPU).';
  }
  const cpu = `running on the CPU (${msg.threads > 1 ? `${msg.threads} threads` : 'one thread'})`;
  if (msg.reason === 'software') {
    return `${cpu}: this browser's WebGPU is software GPU emulation, which is slower than the CPU engine.`;
  }
  if (msg.reason === 'chosen') return `${cpu}, as chosen in Advanced → Compute. Slower than a GPU: small sizes are quicker.`;
  // The core's reason can be a long technical chain: its first clause here, the rest in Details.
  const why = (msg.fallbackReason || 'WebGPU is not available in this browser').split(/[:;]/)[0].trim();
  return `${cpu}: ${why}. This is much slower than a GPU; small sizes are quicker.`;
}
