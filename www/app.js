// The page: files in, settings, buttons, progress, and drawing every iteration the worker sends.
// No optimization runs here.

const $ = (id) => document.getElementById(id);
// The distilled VGG ships with the app (docs/distilled-vgg.md); the teacher is the full-quality
// option, 20 MB, fetched on first use.
const MODELS = {
  distilled: { url: 'models/vgg16-distilled.bpk', label: 'Distilled VGG (fast)' },
  teacher: { url: 'models/vgg16-teacher.bpk', label: 'VGG16 full quality' },
};
const FIELDS = ['preset', 'blend', 'size', 'scale-mode', 'iterations', 'strength', 'colors', 'style-scale', 'tv', 'init', 'model', 'optimizer', 'seed', 'device'];

const state = {
  files: { content: null, style: null, style2: null },
  worker: null,
  ready: false,
  backend: null,
  runId: 0,
  running: false,
  paused: false,
  total: 0,
  iteration: 0,
  firstStepAt: 0,
  firstIteration: 0,
  weights: new Map(), // model name → ArrayBuffer
  history: [], // one {iteration, content, style, tv} per displayed iteration of the current run
  frames: [], // WebP snapshots of the result for the timelapse, about 100 per run
  recording: false,
  hasResult: false,
  iterationOffset: 0, // iterations done before a resumed run began
  stageIterations: 0, // iterations of each coarse-to-fine stage but the last
  resumable: null, // {iteration, total} of a run the engine lost
  pendingResume: false,
};

// ---------- kept across reloads: the settings and the last result, in IndexedDB ----------

const DB_NAME = 'impasto';
const STORE = 'kept';
let dbPromise = null;

/** The database, or null where IndexedDB is unavailable (private mode, blocked storage). */
function db() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve) => {
      try {
        const open = indexedDB.open(DB_NAME, 1);
        open.onupgradeneeded = () => open.result.createObjectStore(STORE);
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => resolve(null);
        open.onblocked = () => resolve(null);
      } catch { resolve(null); }
    });
  }
  return dbPromise;
}

async function keep(key, value) {
  const d = await db();
  if (!d) return;
  await new Promise((resolve) => {
    try {
      const tx = d.transaction(STORE, 'readwrite');
      tx.objectStore(STORE).put(value, key);
      tx.oncomplete = resolve;
      tx.onerror = resolve;
      tx.onabort = resolve;
    } catch { resolve(); }
  });
}

async function kept(key) {
  const d = await db();
  if (!d) return undefined;
  return new Promise((resolve) => {
    try {
      const req = d.transaction(STORE, 'readonly').objectStore(STORE).get(key);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => resolve(undefined);
    } catch { resolve(undefined); }
  });
}

async function loadSettings() {
  const saved = (await kept('settings')) || {};
  for (const f of FIELDS) if (typeof saved[f] === 'string' && $(f)) $(f).value = saved[f];
  showStrength();
}

function saveSettings() {
  const s = {};
  for (const f of FIELDS) s[f] = $(f).value;
  keep('settings', s);
}

// The result is kept when a run pauses, stops or ends, and every few seconds while it runs, so a
// reload (or a crash of the tab) offers it again.
const KEEP_EVERY_MS = 5000;
let lastKept = 0;
let keeping = false;

function keepResult(force) {
  const now = performance.now();
  if (!state.hasResult || keeping || (!force && now - lastKept < KEEP_EVERY_MS)) return;
  keeping = true;
  lastKept = now;
  const iteration = state.iteration;
  $('result').toBlob(async (png) => {
    if (png) await keep('result', { png, iteration, savedAt: Date.now() });
    keeping = false;
  }, 'image/png');
}

async function restoreResult() {
  const r = await kept('result');
  if (!r || !(r.png instanceof Blob) || state.hasResult) return;
  try {
    const bitmap = await createImageBitmap(r.png);
    if (state.hasResult) return; // a run drew meanwhile
    const canvas = $('result');
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    canvas.getContext('2d').drawImage(bitmap, 0, 0);
    bitmap.close();
    state.hasResult = true;
    state.iteration = r.iteration;
    const when = new Date(r.savedAt).toLocaleString();
    $('notice').textContent = `Your last result (iteration ${r.iteration}, ${when}) is restored; Download saves it.`;
    $('notice').hidden = false;
    updateButtons();
  } catch { /* an unreadable entry: nothing to offer */ }
}

// Style strength is one slider over α/β (Joshi et al. 2017, "Bringing Impressionism to Life with
// Neural Style Transfer in Come Swim"): s = log10 of how much more the style counts than in CS20.
function strengthWeights() {
  const s = Number($('strength').value);
  return { contentWeight: 0.01 * Math.pow(10, -s), styleWeight: 1 };
}

// Presets: the same values as the core's `Preset` (src/stylize.rs), where they are explained.
// strength = log10(0.01 / α).
const PRESETS = {
  faithful: { strength: -7, tv: 0.001, iterations: 300, init: 'content', noiseRatio: 0.6 },
  balanced: { strength: 0, tv: 0, iterations: 300, init: 'noise-mix', noiseRatio: 0.6 },
  bold: { strength: 2, tv: 0, iterations: 500, init: 'noise-mix', noiseRatio: 0.9 },
};
const PRESET_FIELDS = ['strength', 'tv', 'iterations', 'init'];

function applyPreset() {
  const p = PRESETS[$('preset').value];
  if (!p) return;
  for (const f of PRESET_FIELDS) $(f).value = String(p[f]);
  showStrength();
  saveSettings();
}

function noiseRatio() {
  return PRESETS[$('preset').value]?.noiseRatio ?? 0.6;
}

function showStrength() {
  const s = Number($('strength').value);
  $('strength-out').textContent = s === 0 ? 'CS20 default' : `${s > 0 ? '×' : '÷'}${Math.pow(10, Math.abs(s)).toPrecision(2)}`;
}

function readOptions() {
  const size = Number($('size').value);
  const iterations = Number($('iterations').value);
  const tv = Number($('tv').value);
  const seed = Number($('seed').value);
  if (!Number.isInteger(size) || size < 16 || size > 4096) throw new Error('Size must be a whole number of pixels between 16 and 4096.');
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > 100000) throw new Error('Iterations must be a whole number between 1 and 100000.');
  if (!(tv >= 0)) throw new Error('The smoothing weight must be a number ≥ 0.');
  if (!Number.isInteger(seed) || seed < 0) throw new Error('The seed must be a whole number ≥ 0.');
  const styleScale = Number($('style-scale').value);
  if (!(styleScale >= 0.1 && styleScale <= 4)) throw new Error('The brush-stroke scale (style scale) must be between 0.1 and 4.');
  return {
    iterations,
    options: {
      size, ...strengthWeights(), tvWeight: tv, init: $('init').value, optimizer: $('optimizer').value, seed,
      originalColors: $('colors').value === 'photo', styleScale, noiseRatio: noiseRatio(),
      coarseToFine: $('scale-mode').value === 'ladder', largest: $('scale-mode').value === 'largest',
      stageIterations: iterations,
    },
  };
}

// ---------- messages ----------

function showError(message) {
  const el = $('error');
  el.textContent = message;
  el.hidden = !message;
}

function setStatus(text) { $('status').textContent = text; }

function updateButtons() {
  const haveBoth = state.files.content && state.files.style;
  $('start').disabled = !(state.ready && haveBoth);
  $('pause').disabled = !state.running;
  $('pause').textContent = state.paused ? 'Resume' : 'Pause';
  $('stop').disabled = !state.running;
  $('download').disabled = !state.hasResult;
  $('timelapse').disabled = !(TIMELAPSE_TYPE && state.frames.length > 1 && !state.recording);
  $('timelapse').hidden = !TIMELAPSE_TYPE;
}

// ---------- files: every input path ends in onFile ----------

async function onFile(file, slot) {
  showError('');
  if (!file) return;
  if (!slot) slot = !state.files.content ? 'content' : !state.files.style ? 'style' : 'content';
  if (file.size === 0) {
    showError(`The ${slot} image "${file.name}" is empty.`);
    return;
  }
  state.files[slot] = file;
  const thumb = $(`${slot}-thumb`);
  if (thumb.src) URL.revokeObjectURL(thumb.src);
  thumb.src = URL.createObjectURL(file);
  thumb.alt = `${{ content: 'Content image', style: 'Style image', style2: 'Second style' }[slot]}: ${file.name}`;
  if (slot === 'style2') $('style2-clear').hidden = false;
  thumb.hidden = false;
  // The browser may not preview a file the engine decodes (or the reverse); the engine's verdict
  // on Start is what counts.
  thumb.onerror = () => { thumb.hidden = true; };
  updateButtons();
}

function wireInputs() {
  $('style2-clear').addEventListener('click', () => {
    state.files.style2 = null;
    $('style2-thumb').hidden = true;
    $('style2-file').value = '';
    $('style2-clear').hidden = true;
  });
  for (const slot of ['content', 'style', 'style2']) {
    const input = $(`${slot}-file`);
    input.addEventListener('change', () => onFile(input.files[0], slot));
    const zone = $(`drop-${slot}`);
    zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      e.stopPropagation();
      zone.classList.remove('over');
      onFile(e.dataTransfer.files[0], slot);
    });
  }
  // Dropping anywhere else fills the first empty slot.
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    const files = [...(e.dataTransfer?.files || [])];
    for (const f of files.slice(0, 2)) onFile(f, null);
  });
  document.addEventListener('paste', (e) => {
    const item = [...(e.clipboardData?.items || [])].find((i) => i.kind === 'file');
    if (item) onFile(item.getAsFile(), null);
  });
}

// ---------- weights: fetched from our origin with progress (the service worker caches them) ----------

async function fetchWeights(name) {
  if (state.weights.has(name)) return state.weights.get(name);
  const model = MODELS[name];
  const response = await fetch(model.url);
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
    setStatus(total
      ? `Loading the ${model.label} model… ${Math.round((100 * received) / total)}%`
      : `Loading the ${model.label} model… ${(received / 1e6).toFixed(1)} MB`);
  }
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const c of chunks) { bytes.set(c, offset); offset += c.length; }
  state.weights.set(name, bytes.buffer);
  return bytes.buffer;
}

// ---------- worker ----------

function startWorker() {
  state.ready = false;
  updateButtons();
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  state.worker = worker;
  state.loadedModel = null;
  worker.onmessage = (e) => onWorkerMessage(e.data);
  worker.onerror = (e) => onCrash(e.message || 'the worker failed to load');
  worker.postMessage({ type: 'init', useGpu: $('device').value === 'gpu', faults: location.hash.includes('faults') });
  setStatus('Starting the engine…');
}

/**
 * The engine is gone: its wasm instance aborted (`crash`) or its GPU device was lost (`lost`).
 * The worker is replaced by a fresh one; a run that was going can be resumed from the last image
 * shown, with the iterations it had left.
 */
function onCrash(message, lost = false) {
  keepResult(true);
  showError('');
  const left = state.total - state.iteration;
  state.resumable = state.running && state.hasResult && left > 0
    ? { iteration: state.iteration, total: state.total } : null;
  $('crash-title').textContent = lost ? 'The GPU stopped working.' : 'The painting engine crashed.';
  $('crash-message').textContent = message ? `(${message})` : '';
  $('crash-resume').hidden = !state.resumable;
  $('crash').hidden = false;
  state.running = false;
  state.paused = false;
  state.worker?.terminate();
  if (state.resumable) setStatus(`Interrupted at iteration ${state.iteration}; press Resume to go on from there.`);
  startWorker();
}

function resumeAfterCrash() {
  $('crash').hidden = true;
  if (state.resumable) start(true);
}

function onWorkerMessage(msg) {
  if (msg.runId !== undefined && msg.runId !== state.runId) return; // a stale run
  // The engine's memory, for diagnostics (and the memory test): a data attribute, not shown.
  if (msg.wasmBytes) $('engine').dataset.wasmBytes = String(msg.wasmBytes);
  if (msg.gpuBytes !== undefined) $('engine').dataset.gpuBytes = String(msg.gpuBytes);
  // A resumed run counts on from where the interrupted one was.
  if (msg.iteration !== undefined) msg.iteration += state.iterationOffset;
  if (msg.record) msg.record.iteration += state.iterationOffset;
  switch (msg.type) {
    case 'ready':
      state.ready = true;
      state.backend = msg.backend;
      $('engine').textContent = msg.backend === 'wgpu'
        ? 'Running on your GPU (WebGPU).'
        : `Running on the CPU: ${msg.fallbackReason}. This is much slower; try a small size.`;
      if (state.resumable) setStatus(`Ready: press Resume to go on from iteration ${state.resumable.iteration}.`);
      else setStatus(state.hasResult ? 'Ready. Your last result is kept.' : 'Ready: add a content and a style image, then press Start.');
      updateButtons();
      if (state.pendingResume) { state.pendingResume = false; start(true); }
      break;
    case 'started': {
      state.total = msg.total + state.iterationOffset;
      state.sides = msg.sides;
      $('progress').dataset.sides = msg.sides.join(',');
      state.stageStart = null;
      state.lastElapsedMs = 0;
      const ladder = msg.sides.length > 1 ? ` (coarse to fine: ${msg.sides.join(' → ')} px)` : '';
      setStatus(`Painting at ${msg.width}×${msg.height}${ladder}…`);
      $('notice').textContent = msg.notice ? sentence(msg.notice) : '';
      $('notice').hidden = !msg.notice;
      break;
    }
    case 'step':
      draw(msg);
      progress(msg.record);
      snapshot(msg.record.iteration);
      keepResult(false);
      break;
    case 'paused':
      keepResult(true);
      setStatus(`Paused at iteration ${msg.iteration}.`);
      break;
    case 'done':
      keepResult(true);
      state.running = false;
      state.paused = false;
      setStatus(`Done: ${msg.iteration} iterations.`);
      updateButtons();
      break;
    case 'stopped':
      keepResult(true);
      state.running = false;
      state.paused = false;
      setStatus(`Stopped at iteration ${msg.iteration}.`);
      updateButtons();
      break;
    case 'error':
      keepResult(true);
      state.running = false;
      state.paused = false;
      showError(sentence(msg.message));
      setStatus(state.hasResult ? 'Stopped. Your last result is kept.' : 'Stopped.');
      updateButtons();
      break;
    case 'crash':
      onCrash(msg.message);
      break;
    case 'lost':
      onCrash(sentence(msg.message), true);
      break;
    default:
      break;
  }
}

function sentence(message) {
  const m = String(message).trim();
  return m.charAt(0).toUpperCase() + m.slice(1) + (/[.!?]$/.test(m) ? '' : '.');
}

// ---------- drawing and progress ----------

function draw({ rgba, width, height }) {
  const canvas = $('result');
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
  state.hasResult = true;
}

function fmt(v) { return Number.isFinite(v) ? v.toExponential(3) : '–'; }

function progress(record) {
  state.iteration = record.iteration;
  const now = performance.now();
  if (!state.firstStepAt) { state.firstStepAt = now; state.firstIteration = record.iteration; }
  const bar = $('progress');
  bar.setAttribute('aria-valuenow', String(record.iteration));
  bar.setAttribute('aria-valuemax', String(state.total));
  $('progress-fill').style.width = `${Math.min(100, (100 * record.iteration) / state.total)}%`;
  // The rate of this stage; a later stage costs about its share of pixels more per iteration.
  if (!state.stageStart || state.stageStart.stage !== record.stage) {
    state.stageStart = { stage: record.stage, elapsedMs: state.lastElapsedMs || 0 };
  }
  state.lastElapsedMs = record.elapsedMs;
  const stageSeconds = Math.max((record.elapsedMs - state.stageStart.elapsedMs) / 1000, 1e-9);
  const rate = record.stageIteration / stageSeconds;
  // Every later stage runs `perStage` iterations; this one what is left besides them (a resumed
  // run's first stage is short of what the interrupted run had done).
  const later = record.stages - record.stage;
  const perStage = later > 0 ? state.stageIterations : 0;
  let left = Math.max(0, state.total - record.iteration - later * perStage) / rate;
  for (let k = record.stage; k < record.stages; k++) {
    const growth = (state.sides[k] / state.sides[record.stage - 1]) ** 2;
    left += (perStage * growth) / rate;
  }
  if (record.iteration >= state.total) left = Math.max(0, state.total - record.iteration) / rate;
  bar.setAttribute('aria-valuetext', `${record.iteration} of ${state.total}`);
  const scale = record.stages > 1 ? `Scale ${record.stage}/${record.stages}, ${record.width}×${record.height} · ` : '';
  setStatus(`${scale}Iteration ${record.iteration} / ${state.total} · ${rate.toFixed(2)} it/s · ${formatTime(left)} left`);
  $('loss-total').textContent = fmt(record.total);
  $('loss-content').textContent = fmt(record.content);
  $('loss-style').textContent = fmt(record.style);
  state.history.push({ iteration: record.iteration, content: record.content, style: record.style, tv: record.tv });
  scheduleChart();
  updateButtons();
}

// ---------- the loss chart: drawn here, no library ----------

const SERIES = [
  { key: 'style', label: 'style', color: '#c0392b' },
  { key: 'content', label: 'content', color: '#2471a3' },
  { key: 'tv', label: 'smoothing', color: '#7d8c2a' },
];
let chartPending = false;

function scheduleChart() {
  if (chartPending) return;
  chartPending = true;
  requestAnimationFrame(() => { chartPending = false; drawChart(); });
}

/** Each loss term per iteration on one log₁₀ axis (terms differ by orders of magnitude). */
function drawChart() {
  const canvas = $('chart');
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const h = state.history;
  if (!h.length) return;
  const pad = { l: 44, r: 8, t: 8, b: 18 };
  const logs = [];
  for (const p of h) for (const s of SERIES) if (p[s.key] > 0) logs.push(Math.log10(p[s.key]));
  if (!logs.length) return;
  let lo = Math.floor(Math.min(...logs));
  let hi = Math.ceil(Math.max(...logs));
  if (hi === lo) hi = lo + 1;
  const last = Math.max(h[h.length - 1].iteration, 2);
  const x = (i) => pad.l + ((i - 1) / (last - 1)) * (width - pad.l - pad.r);
  const y = (v) => pad.t + (1 - (v - lo) / (hi - lo)) * (height - pad.t - pad.b);
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#666';
  ctx.strokeStyle = '#e5e5e5';
  ctx.lineWidth = 1;
  for (let d = lo; d <= hi; d++) {
    ctx.beginPath(); ctx.moveTo(pad.l, y(d)); ctx.lineTo(width - pad.r, y(d)); ctx.stroke();
    ctx.fillText(`1e${d}`, 4, y(d) + 4);
  }
  ctx.fillText(`iteration ${h[h.length - 1].iteration}`, pad.l, height - 4);
  let legendX = width - pad.r;
  for (const s of SERIES) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let drawn = false;
    for (const p of h) {
      if (!(p[s.key] > 0)) continue;
      const px = x(p.iteration); const py = y(Math.log10(p[s.key]));
      if (drawn) ctx.lineTo(px, py); else ctx.moveTo(px, py);
      drawn = true;
    }
    ctx.stroke();
    if (drawn) {
      legendX -= ctx.measureText(s.label).width + 6;
      ctx.fillStyle = s.color;
      ctx.fillText(s.label, legendX, height - 4);
    }
  }
}

// ---------- before/after: the photo over the left part of the result (the result itself, and
// what Download saves, are untouched) ----------

function showCompare() {
  const photo = $('compare-photo');
  const share = Number($('compare').value);
  const src = $('content-thumb').src;
  if (!share || !src || !state.hasResult) { photo.hidden = true; return; }
  if (photo.src !== src) photo.src = src;
  photo.style.clipPath = `inset(0 ${100 - share}% 0 0)`;
  photo.hidden = false;
}

function formatTime(seconds) {
  if (!Number.isFinite(seconds)) return '–';
  const s = Math.round(seconds);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

// ---------- buttons ----------

/** Start a run with the page's settings, or (`resume`) go on from the image shown after the
 * engine was lost, with the iterations the interrupted run had left. */
async function start(resume = false) {
  showError('');
  if (resume && !state.ready) { state.pendingResume = true; setStatus('Restarting the engine…'); return; }
  let settings;
  try { settings = readOptions(); } catch (err) { showError(err.message); return; }
  saveSettings();
  let from = null;
  if (resume) {
    const r = state.resumable;
    state.resumable = null;
    if (!r) return;
    const canvas = $('result');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    from = { rgba: data.buffer, width: canvas.width, height: canvas.height, done: r.iteration };
    state.iterationOffset = r.iteration;
    settings.iterations = r.total - r.iteration;
  } else {
    state.iterationOffset = 0;
    state.history = [];
    state.frames = [];
  }
  const modelName = $('model').value;
  state.runId += 1;
  const runId = state.runId;
  state.running = true;
  state.paused = false;
  state.total = settings.iterations + state.iterationOffset;
  state.stageIterations = settings.options.stageIterations;
  drawChart();
  state.firstStepAt = 0;
  updateButtons();
  try {
    const [content, style, style2] = await Promise.all([
      state.files.content.arrayBuffer(), state.files.style.arrayBuffer(), state.files.style2?.arrayBuffer(),
    ]);
    const share = Number($('blend').value) / 100;
    // With a second style, both go as a blend (weights 1 − share and share).
    const styles = style2 ? [style, style2] : [style];
    const styleWeights = style2 ? [1 - share, share] : [1];
    let weights = null;
    if (state.loadedModel !== modelName) {
      weights = (await fetchWeights(modelName)).slice(0);
      state.loadedModel = modelName;
    }
    if (runId !== state.runId) return;
    setStatus(resume ? `Resuming from iteration ${state.iterationOffset}…` : 'Preparing…');
    state.worker.postMessage({
      type: 'start', runId, weights, weightsKey: modelName, content, styles, styleWeights,
      options: settings.options, iterations: settings.iterations, resume: from,
    }, [content, ...styles, ...(weights ? [weights] : []), ...(from ? [from.rgba] : [])]);
  } catch (err) {
    state.running = false;
    showError(err.message || String(err));
    updateButtons();
  }
}

function pause() {
  if (!state.running) return;
  if (state.paused) {
    state.paused = false;
    state.worker.postMessage({ type: 'resume' });
    setStatus('Resuming…');
  } else {
    state.paused = true;
    state.worker.postMessage({ type: 'pause' });
  }
  updateButtons();
}

function stop() {
  if (!state.running) return;
  state.worker.postMessage({ type: 'stop' });
}

// ---------- timelapse: snapshots during the run, replayed into a WebM at a fixed rate ----------

const TIMELAPSE_TYPE = (() => {
  if (typeof MediaRecorder === 'undefined' || !HTMLCanvasElement.prototype.captureStream) return null;
  return ['video/webm;codecs=vp9', 'video/webm;codecs=vp8', 'video/webm'].find((t) => MediaRecorder.isTypeSupported(t)) || null;
})();
const TIMELAPSE_FPS = 15;

function snapshot(iteration) {
  const every = Math.max(1, Math.ceil(state.total / 100));
  if (!TIMELAPSE_TYPE || (iteration % every !== 0 && iteration !== 1 && iteration !== state.total)) return;
  $('result').toBlob((blob) => { if (blob) { state.frames.push(blob); updateButtons(); } }, 'image/webp', 0.9);
}

async function timelapse() {
  if (state.recording || state.frames.length < 2) return;
  state.recording = true;
  updateButtons();
  const previous = $('status').textContent;
  try {
    const first = await createImageBitmap(state.frames[0]);
    const canvas = document.createElement('canvas');
    canvas.width = first.width;
    canvas.height = first.height;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(first, 0, 0);
    const recorder = new MediaRecorder(canvas.captureStream(TIMELAPSE_FPS), { mimeType: TIMELAPSE_TYPE });
    const chunks = [];
    recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
    const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
    recorder.start();
    const frames = state.frames.slice();
    for (let i = 0; i < frames.length; i++) {
      setStatus(`Making the timelapse… ${Math.round((100 * (i + 1)) / frames.length)}%`);
      const bitmap = await createImageBitmap(frames[i]);
      ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      bitmap.close();
      await new Promise((r) => setTimeout(r, 1000 / TIMELAPSE_FPS));
    }
    await new Promise((r) => setTimeout(r, 1000)); // hold the last frame
    recorder.stop();
    await stopped;
    saveBlob(new Blob(chunks, { type: 'video/webm' }), `impasto-timelapse-${state.iteration}.webm`);
  } catch (err) {
    showError(`The timelapse could not be made: ${err.message}`);
  } finally {
    state.recording = false;
    setStatus(previous);
    updateButtons();
  }
}

function saveBlob(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

function download() {
  $('result').toBlob((blob) => {
    if (!blob) { showError('The result could not be encoded as PNG.'); return; }
    saveBlob(blob, `impasto-${state.iteration}.png`);
  }, 'image/png');
}

// ---------- service worker ----------

function registerServiceWorker() {
  if (!('serviceWorker' in navigator) || location.hash.startsWith('#dev')) return;
  let reloading = false;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    if (state.updateAccepted && !reloading) { reloading = true; location.reload(); }
  });
  navigator.serviceWorker.register('sw.js').then((reg) => {
    const offer = () => {
      $('update').hidden = false;
      $('update-reload').onclick = () => {
        state.updateAccepted = true;
        reg.waiting?.postMessage('skip-waiting');
      };
    };
    if (reg.waiting && navigator.serviceWorker.controller) offer();
    reg.addEventListener('updatefound', () => {
      const next = reg.installing;
      next?.addEventListener('statechange', () => {
        if (next.state === 'installed' && navigator.serviceWorker.controller) offer();
      });
    });
  }).catch(() => { /* no offline support; the app still works online */ });
}

// ---------- boot ----------

loadSettings().then(restoreResult);
wireInputs();
for (const f of FIELDS) $(f).addEventListener('change', saveSettings);
$('strength').addEventListener('input', showStrength);
$('compare').addEventListener('input', showCompare);
$('preset').addEventListener('change', applyPreset);
// Changing what a preset sets makes the settings custom.
for (const f of PRESET_FIELDS) $(f).addEventListener('input', () => { $('preset').value = 'custom'; saveSettings(); });
$('device').addEventListener('change', () => { state.worker?.terminate(); state.running = false; startWorker(); });
$('start').addEventListener('click', () => start());
$('pause').addEventListener('click', pause);
$('stop').addEventListener('click', stop);
$('download').addEventListener('click', download);
$('timelapse').addEventListener('click', timelapse);
$('crash-dismiss').addEventListener('click', () => { $('crash').hidden = true; });
$('crash-resume').addEventListener('click', resumeAfterCrash);
// The fault test (#dev-faults) destroys the GPU device as a driver reset would.
if (location.hash.includes('faults')) window.impastoFaults = { loseDevice: () => state.worker.postMessage({ type: 'lose-device' }) };
startWorker();
registerServiceWorker();
