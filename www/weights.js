// Model weights, fetched from this origin with progress (the service worker caches them). One
// fetch per model, however many runs ask for it.

import { setStatus } from './dom.js';

// The distilled VGG ships with the app (docs/distilled-vgg.md); the teacher (VGG16, 20 MB) is
// fetched on first use: by default while a run's smaller sizes paint, for its last size.
/** @type {import('./protocol.js').Models | null} */
let models = null; // the core's models(), once the engine has sent them

/** The core's models: which there are, their files, what each choice loads, what finishes. */
export function knowModels(m) { models = m; }
export const modelInfo = () => models;
const loading = new Map(); // model name → Promise<ArrayBuffer>
const shown = new Set(); // quiet fetches whose progress a waiting run now shows

/** Show a quiet fetch's progress in the status line from now on (a run is waiting for it). */
export function showProgress(name) {
  if (loading.has(name)) shown.add(name);
}

/** Stop showing fetches' progress (the run waiting for them paused or ended). */
export function hideProgress() {
  shown.clear();
}

export function fetchWeights(name, { quiet = false } = {}) {
  if (!loading.has(name)) {
    const p = load(name, quiet);
    loading.set(name, p);
    p.catch(() => { loading.delete(name); shown.delete(name); }); // a failed fetch may be tried again
  }
  return loading.get(name);
}

async function load(name, quiet) {
  const model = models?.list.find((m) => m.name === name);
  if (!model) throw new Error(`There is no model called ${name}.`);
  const response = await fetch(`models/${model.file}`);
  if (!response.ok) throw new Error(`The ${model.label} weights could not be loaded (HTTP ${response.status}).`);
  const total = Number(response.headers.get('content-length')) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    if (!quiet || shown.has(name)) {
      setStatus(total ? `Loading the ${model.label} model… ${Math.round((100 * received) / total)}%`
        : `Loading the ${model.label} model… ${(received / 1e6).toFixed(1)} MB`);
    }
  }
  shown.delete(name);
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const c of chunks) { bytes.set(c, offset); offset += c.length; }
  return bytes.buffer;
}
