// A run: Start (or resume after a lost engine), Pause/Resume, Stop, and what the engine says
// while it paints. The optimization itself runs in the worker.

import { $, setStatus, announce, showError, sentence } from './dom.js';
import { state } from './state.js';
import { enter, running, phaseIs } from './phase.js';
import { on, post, startWorker, describeEngine } from './engine.js';
import { readOptions, modelName, deviceChoice, blendShare, coreBounds } from './settings.js';
import {
  frameSize, decodeFrames, shotKey, keptShot, keepShot, keepShotFiles, keptFrame, shotStatus, framePainted, newShot, forgetShot,
  Refusal,
} from './film.js';
import { fetchWeights, showProgress, hideProgress, modelInfo } from './weights.js';
import { refuse, recheckPending, SLOTS } from './files.js';
import { draw, keepResult, describeRun } from './result.js';
import { resetProgress, showStep, showFinished } from './progress.js';
import { scheduleChart, drawChart } from './chart.js';
import { snapshot } from './timelapse.js';
import { updateButtons, canGoOnward } from './ui.js';

const fmt = (v) => (Number.isFinite(v) ? v.toExponential(3) : '–');
// A quick first picture: where the size is above this, a preview run paints a quarter and a half
// of it first (coarse to fine), so the first iteration is on screen in seconds, not minutes.
const PREVIEW_ABOVE = 256;
const modelPosting = new Map(); // name → {worker, promise}: weights on their way to the engine

/** The models a run with the network `name` needs in the engine before it starts: the
 * full-quality network paints a coarse-to-fine run's smaller sizes with the distilled one (the
 * core decides when); 'auto' starts with the distilled one, and where the core finishes with the
 * teacher the run says so ('started' → pending) and the teacher is fetched while it paints. */
const modelsFor = (name) => modelInfo()?.loads[name] ?? [name];
/** The model that finishes an 'auto' run's ladder (the core's). */
const finisher = () => modelInfo()?.finish;

/** The models in the engine: each fetched (once) and sent before any run needs it. */
export function ensureModel(name, quiet = true) {
  return Promise.all(modelsFor(name).map((m) => ensureOne(m, quiet)));
}

function ensureOne(name, quiet) {
  if (state.loadedModels.has(name)) return Promise.resolve();
  const posting = modelPosting.get(name);
  if (!quiet) showProgress(name); // a run now waits for a fetch begun quietly
  if (posting?.worker === state.worker) return posting.promise;
  const worker = state.worker;
  const promise = fetchWeights(name, { quiet }).then((buffer) => {
    // Replaced meanwhile: send to the new engine once it is up (its 'ready' asks for the models
    // again; a model sent before its init would be refused).
    if (state.worker !== worker) return state.ready ? ensureOne(name, quiet) : undefined;
    const weights = buffer.slice(0);
    post({ type: 'model', key: name, weights }, [weights]);
    state.loadedModels.add(name);
    return undefined;
  }).finally(() => { if (modelPosting.get(name)?.promise === promise) modelPosting.delete(name); });
  modelPosting.set(name, { worker, promise });
  return promise;
}

/** Start a run with the form's settings; `preview` paints small first; `resume` goes on from the
 * image shown after the engine was lost, with what the interrupted run had left. */
export async function start({ resume = false, preview = false, onward = false } = {}) {
  if (running()) return; // one run at a time: Stop (or let it finish) first
  showError('');
  if (!resume && state.resumable) {
    // A new run: what a crashed one left to resume is gone with it, and so is its banner.
    state.resumable = null;
    $('crash').hidden = true;
  }
  if (!state.ready) {
    state.pendingStart = { resume, preview, onward };
    setStatus('Starting the engine…');
    return;
  }
  let options;
  try { options = readOptions(); } catch (err) { showError(err.message); return; }
  if (state.video) { startShot(options); return; }
  if (state.shot) forgetShot(); // a reload restores this run's painting, not the clip
  state.shot = null; // Download saves this run's painting
  if (preview && !options.coarseToFine && !options.largest && options.size > PREVIEW_ABOVE) options.coarseToFine = true;
  // Going on from a painting the time limit made smaller: the rest of the sizes asked for, with
  // no limit. Resumed after a crash, a planned run keeps to its planned size.
  const planned = state.planned;
  if (onward && planned) Object.assign(options, { size: planned.asked, timeBudget: null });
  else if (resume && planned) Object.assign(options, { size: planned.side, timeBudget: null });
  if (!resume || onward) state.planned = null;
  let from = null;
  if (resume) {
    const r = state.resumable;
    state.resumable = null;
    if (!r) return;
    const canvas = $('result');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    from = { rgba: data.buffer, width: canvas.width, height: canvas.height, done: r.iteration, onward };
    state.iterationOffset = r.iteration;
  } else {
    state.iterationOffset = 0;
    state.history = [];
    state.frames = [];
  }
  state.runId += 1;
  const runId = state.runId;
  enter('preparing');
  Object.assign(state, { stepsThisRun: 0, awaiting: null });
  state.total = null;
  state.stageIterations = options.iterations;
  resetProgress();
  drawChart();
  $('notice').hidden = true;
  updateButtons();
  showStage();
  setStatus(resume ? `Resuming from iteration ${state.iterationOffset}…` : 'Preparing…');
  try {
    const [content, { styles, styleWeights }] = await Promise.all([state.files.content.arrayBuffer(), blend(state.files, blendShare())]);
    const worker = state.worker;
    await ensureModel(modelName(), false);
    // A run resumed at its last size, which VGG16 was to paint, goes on there at once: VGG16
    // first, where it can be had (otherwise the engine paints that size without it).
    const atLast = from && (onward || Math.max(from.width, from.height) === state.sides?.at(-1));
    if (atLast && modelName() === 'auto' && state.models?.at(-1) === finisher()) await ensureOne(finisher(), false).catch(() => {});
    if (runId !== state.runId) return;
    if (state.worker !== worker || !state.ready) {
      // The engine was replaced meanwhile (a crash, another Compute): start on the new one once
      // it is up, with the models it will have been sent.
      if (running()) enter('idle');
      updateButtons();
      if (!resume && state.ready) start({ preview });
      else if (!resume) state.pendingStart = { resume, preview };
      return;
    }
    setStatus(resume ? `Resuming from iteration ${state.iterationOffset}…` : 'Preparing…');
    post({ type: 'start', runId, content, styles, styleWeights, options, resume: from },
      [content, ...styles, ...(from ? [from.rgba] : [])]);
  } catch (err) {
    if (runId !== state.runId) return;
    if (running()) enter('failed'); // (another engine chosen meanwhile has ended it)
    showError(err.message || String(err));
    updateButtons();
  }
}

/** The paintings a run is sent: one, or with a second style both as a blend (weights 1 − share
 * and share). */
async function blend(files, share) {
  const [style, style2] = await Promise.all([files.style.arrayBuffer(), files.style2?.arrayBuffer()]);
  return style2 ? { styles: [style, style2], styleWeights: [1 - share, share] } : { styles: [style], styleWeights: [1] };
}

/**
 * Start the shot of the chosen clip, or go on with it: a shot of the same clip, paintings and
 * settings kept in IndexedDB (film.js) goes on at its first frame not painted. Every frame is
 * decoded at the painted size first, then the engine paints them in order.
 */
async function startShot(formOptions) {
  const video = state.video;
  const files = { ...state.files }; // as they are now (the targets stay live while frames decode)
  const { shotSide } = coreBounds();
  const size = frameSize(video.width, video.height, formOptions.size, shotSide[1]);
  // Every frame is painted to its end (no time limit), at the frames' size.
  const options = { ...formOptions, size: Math.max(size.width, size.height), largest: false, timeBudget: null };
  const share = blendShare();
  state.runId += 1;
  const runId = state.runId;
  state.planned = null;
  Object.assign(state, { stepsThisRun: 0, awaiting: null, iterationOffset: 0, history: [], frames: [], total: null, iteration: 0 });
  if (state.resumable) { state.resumable = null; $('crash').hidden = true; } // (a shot goes on from what it kept)
  enter('preparing');
  resetProgress();
  drawChart();
  $('notice').hidden = true;
  updateButtons();
  showStage();
  setStatus('Reading the clip…');
  try {
    await state.shot?.saving; // the frames the last shot painted, all kept
    const key = shotKey(files, options, share);
    const before = await keptShot();
    let from = before?.key === key && before.done < before.n ? before.done : 0;
    const previousPng = from > 0 ? await keptFrame(from - 1) : null;
    if (!previousPng) from = 0;
    const frames = await decodeFrames(video.file, size.width, size.height, (k) => {
      if (runId === state.runId) setStatus(`Reading the clip: frame ${k} of ${video.frames}…`);
      return runId === state.runId;
    });
    if (!frames || runId !== state.runId) return;
    if (from >= frames.length) from = 0; // (the clip decodes to fewer frames than were kept)
    const record = { key, name: video.file.name, n: frames.length, fps: video.fps, done: from };
    if (!from) await keepShotFiles(key, files);
    await keepShot(record);
    state.shot = newShot(record, options.model);
    let previous = null;
    if (previousPng) {
      const bitmap = await createImageBitmap(previousPng);
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d');
      ctx.drawImage(bitmap, 0, 0);
      bitmap.close();
      previous = ctx.getImageData(0, 0, canvas.width, canvas.height).data.buffer;
    }
    const { styles, styleWeights } = await blend(files, share);
    const worker = state.worker;
    await ensureModel(options.model, false);
    // Automatic: VGG16 finishes every frame where the core's ladder applies, and a shot's frames
    // all have one painter, so it is fetched first (20 MB, once); without it (offline, a failed
    // download) the engine paints the whole shot with the distilled network and says so.
    if (options.model === 'auto') await ensureOne(finisher(), false).catch(() => {});
    if (runId !== state.runId) return;
    if (state.worker !== worker || !state.ready) {
      // The engine was replaced meanwhile (a crash, another Compute): the shot starts again on
      // the new one when Start is pressed (its painted frames are kept).
      if (running()) enter('idle');
      setStatus('The engine was restarted: press Start to go on with the shot.');
      updateButtons();
      return;
    }
    setStatus(from ? `Going on with the shot at frame ${from + 1} of ${frames.length}…` : 'Preparing…');
    post({ type: 'shot', runId, frames, width: size.width, height: size.height, styles, styleWeights, options, from, previous },
      [...frames, ...styles, ...(previous ? [previous] : [])]);
  } catch (err) {
    if (runId !== state.runId) return;
    if (running()) enter('failed');
    // A clip that would not decode belongs in its drop target; anything else below Start.
    if (err instanceof Refusal) refuse('content', sentence(err.message), files.content);
    else showError(sentence(err.message || String(err)));
    setStatus('Nothing was painted.');
    updateButtons();
  }
}

/** Bring the painting into view (on a phone it is below the button that started it). */
function showStage() {
  const stage = $('stage');
  const r = stage.getBoundingClientRect();
  if (r.top < 0 || r.bottom > innerHeight) {
    const smooth = !matchMedia('(prefers-reduced-motion: reduce)').matches;
    stage.scrollIntoView({ behavior: smooth ? 'smooth' : 'auto', block: 'start' });
  }
}

export function pause() {
  if (!phaseIs('painting', 'paused')) return;
  if (phaseIs('paused')) {
    enter('painting');
    post({ type: 'resume' });
    setStatus('Resuming…');
    announce('Resumed.');
  } else {
    enter('pausing');
    post({ type: 'pause' });
    setStatus('Pausing…');
  }
  updateButtons();
}

export function stop() {
  if (!running() || phaseIs('stopping')) return;
  post({ type: 'stop' });
  if (phaseIs('preparing')) {
    // Nothing runs yet (weights loading, images decoding): the run is dropped here at once.
    state.runId += 1;
    enter('stopped');
    setStatus(state.hasResult ? 'Stopped before the first iteration. Your last result is kept.' : 'Stopped before the first iteration.');
    announce('Stopped.');
  } else {
    enter('stopping');
    setStatus('Stopping…');
  }
  updateButtons();
}

/** Go on from a finished painting that the time limit made smaller to the size asked for. */
export function goOnward() {
  if (!canGoOnward() || running()) return;
  state.resumable = { iteration: state.iteration };
  start({ resume: true, onward: true });
}

/** The person chose not to wait (`state.awaiting`; ui.js shows the button): the run's last size is
 * painted with the distilled network, and its own model goes on loading (the service worker keeps
 * it for the next run). */
export function goWithout() {
  const key = state.awaiting;
  if (!key || !running() || phaseIs('stopping')) return;
  state.awaiting = null;
  state.wentWithout = state.runId;
  setStatus('Painting the last size with the distilled network…'); // until its first step is shown
  updateButtons();
  post({ type: 'model-unavailable', runId: state.runId, key, message: 'You chose not to wait for it.' });
}

/** The run ended (`phase`: done, stopped or failed): what it painted is kept. */
function ended(phase, status, spoken) {
  // Once is enough: a run that finished just as Stop was pressed is told 'done' and then 'stopped'.
  if (!running()) return;
  hideProgress();
  keepResult(true);
  enter(phase);
  setStatus(status);
  if (spoken) announce(spoken);
  updateButtons();
}

/**
 * The engine is gone: its wasm instance aborted (`crash`) or its GPU device was lost (`lost`).
 * A fresh worker replaces it; a run that was going can be resumed from the last image shown.
 */
let failedStarts = 0; // engines that crashed before they were ready, in a row

function onCrash(message, lost = false) {
  if (!state.ready && ++failedStarts >= 2) {
    // An engine that cannot even start (no wasm module, an unsupported browser) would only crash
    // again: say so and stop trying.
    $('engine').textContent = `The painting engine could not start${message ? ` (${message})` : ''}. Reload the page to try again.`;
    $('crash-title').textContent = 'The painting engine could not start.';
    $('crash-message').textContent = message ? `(${message})` : '';
    $('crash-tail').textContent = 'Reload the page to try again.';
    $('crash-resume').hidden = true;
    $('crash').hidden = false;
    return;
  }
  keepResult(true);
  showError('');
  const left = state.total == null || state.total - state.iteration > 0;
  state.resumable = running() && state.hasResult && state.stepsThisRun > 0 && left
    ? { iteration: state.iteration, total: state.total } : null;
  $('crash-title').textContent = lost ? 'The GPU stopped working.' : 'The painting engine crashed.';
  $('crash-tail').textContent = 'It has been restarted; your last result is kept.';
  $('crash-message').textContent = message ? `(${message})` : '';
  $('crash-resume').hidden = !state.resumable;
  $('crash').hidden = false;
  if (running()) enter('failed');
  if (state.resumable) setStatus(`Interrupted at iteration ${state.iteration}; press Resume to go on from there.`);
  startWorker(deviceChoice());
  recheckPending();
}

export function resumeAfterCrash() {
  $('crash').hidden = true;
  if (state.resumable && !running()) start({ resume: true });
}

export function wireRun() {
  on('ready', (msg) => {
    state.ready = true;
    failedStarts = 0;
    state.backend = msg.backend;
    state.threads = msg.threads;
    $('engine').textContent = `Ready — ${describeEngine(msg)}`;
    $('engine-detail').textContent = [msg.adapter && `WebGPU adapter: ${msg.adapter}.`,
      msg.backend === 'cpu' && msg.fallbackReason && `Why the CPU: ${msg.fallbackReason}`,
      msg.threadsReason && `One thread: ${msg.threadsReason}.`].filter(Boolean).join(' ');
    if (state.resumable) setStatus(`Ready: press Resume to go on from iteration ${state.resumable.iteration}.`);
    else if (state.hasResult && !running()) setStatus('Ready. Your last result is kept.');
    updateButtons();
    const pending = state.pendingStart;
    state.pendingStart = null;
    if (pending) start(pending);
    else ensureModel(modelName()).catch(() => { /* said when a run needs it */ });
  });
  on('started', (msg) => {
    enter('painting');
    state.total = msg.total == null ? null : msg.total + state.iterationOffset;
    state.sides = msg.sides;
    state.models = msg.models ?? [];
    $('progress').dataset.sides = msg.sides.join(',');
    resetProgress();
    const ladder = msg.sides.length > 1 ? ` (coarse to fine: ${msg.sides.join(' → ')} px)` : '';
    const models = msg.models ?? [];
    const finish = models.length > 1 && models[0] !== models[models.length - 1]
      ? ' The smaller sizes with the distilled network, the last with VGG16.' : '';
    setStatus(`Painting at ${msg.width}×${msg.height}${ladder}…${finish}`);
    announce('Painting started.');
    $('notice').textContent = msg.notice ? sentence(msg.notice) : '';
    $('notice').hidden = !msg.notice;
    // 'auto': the last size's network (VGG16) is fetched while the smaller sizes paint; if it
    // cannot be had, the engine paints that size with the distilled network ('models').
    if (msg.pending) {
      const worker = state.worker;
      ensureOne(msg.pending, true).catch((err) => {
        if (state.worker === worker && state.runId === msg.runId) {
          post({ type: 'model-unavailable', runId: msg.runId, key: msg.pending, message: err.message || String(err) });
        }
      });
    }
  });
  on('planned', (msg) => {
    const asked = state.sides.at(-1);
    if (msg.sides.at(-1) < asked) state.planned = { asked, side: msg.sides.at(-1), files: { ...state.files } };
    if (msg.total != null) state.total = msg.total + state.iterationOffset;
    state.sides = msg.sides;
    state.models = msg.models;
    $('progress').dataset.sides = msg.sides.join(',');
    $('notice').textContent = [$('notice').hidden ? '' : $('notice').textContent, msg.line].filter(Boolean).join(' ');
    $('notice').hidden = false;
    announce(msg.line);
  });
  on('awaiting', (msg) => {
    setStatus(`Loading ${msg.model === finisher() ? 'VGG16' : msg.model} for the last size…`);
    showProgress(msg.model);
    state.awaiting = msg.model;
    updateButtons();
  });
  on('models', (msg) => {
    state.models = msg.models;
    state.awaiting = null;
    updateButtons();
    if (msg.without) {
      const text = state.wentWithout === msg.runId
        ? 'The last size is painted with the distilled network, as you chose; VGG16 goes on loading for the next run.'
        : `VGG16 could not be loaded, so the last size is painted with the distilled network. ${sentence(msg.without)}`;
      $('notice').textContent = [$('notice').hidden ? '' : $('notice').textContent, text].filter(Boolean).join(' ');
      $('notice').hidden = false;
    }
  });
  on('step', (msg) => {
    if (state.awaiting) { // painting again: the model came
      state.awaiting = null;
      updateButtons();
    }
    const record = msg.record;
    record.iteration += state.iterationOffset;
    draw(msg);
    state.stepsThisRun += 1;
    if (state.shot) {
      state.shot.lastIteration = record.iteration;
      state.iteration = record.iteration;
      shotStatus(record);
    } else {
      showStep(record);
    }
    describeRun(record.iteration);
    $('loss-total').textContent = fmt(record.total);
    $('loss-content').textContent = fmt(record.terms.content);
    $('loss-style').textContent = fmt(record.terms.style);
    state.history.push({ iteration: record.iteration, ...record.terms }); // every term the loss has, by name
    scheduleChart();
    if (!state.shot) snapshot(record.iteration, state.total); // (a shot's download is its video)
    keepResult(false);
    if (state.stepsThisRun === 1) {
      updateButtons();
      showStage(); // again: the images' previews may have grown the page since Start
    }
  });
  const at = (msg) => msg.iteration + state.iterationOffset;
  on('paused', (msg) => {
    if (phaseIs('stopping')) return; // Stop pressed while it paused: the stop wins
    hideProgress();
    keepResult(true);
    enter('paused');
    const s = state.shot;
    setStatus(s ? `Paused at frame ${s.index + 1} of ${s.n}, iteration ${at(msg)}.` : `Paused at iteration ${at(msg)}.`);
    announce('Paused.');
    updateButtons();
  });
  on('done', (msg) => {
    showFinished();
    const s = state.shot;
    if (s) ended('done', `Done: all ${s.n} frames painted. Download saves the clip.`, `The shot is painted: ${s.n} frames.`);
    else ended('done', `Done: ${at(msg)} iterations.`, `Painting finished after ${at(msg)} iterations.`);
  });
  on('frame-start', (msg) => {
    const s = state.shot;
    if (!s) return;
    s.index = msg.index;
    s.frameStarted = performance.now();
    state.history = []; // the chart follows the frame being painted
    setStatus(`Frame ${msg.index + 1} of ${msg.n}…`);
  });
  on('frame', (msg) => { if (state.shot) framePainted(msg); });
  on('stopped', (msg) => {
    const s = state.shot;
    const kept = s && s.done < s.n ? `Stopped at frame ${s.index + 1} of ${s.n}: the ${s.done} frames painted are kept, and Start goes on from frame ${s.done + 1}.` : null;
    ended('stopped', kept ?? `Stopped at iteration ${at(msg)}.`, 'Stopped.');
  });
  on('error', (msg) => {
    const ran = state.stepsThisRun > 0;
    const text = sentence(msg.message);
    // A failure about one of the images belongs in its drop target (the core names it).
    if (Object.hasOwn(SLOTS, msg.input ?? '')) refuse(msg.input, text); else showError(text);
    const nothing = state.hasResult ? 'Nothing new was painted; your last result is kept.' : 'Nothing was painted.';
    ended('failed', ran ? `Stopped at iteration ${state.iteration}: ${text}` : nothing, null);
  });
  on('model-error', (msg) => {
    state.loadedModels.delete(msg.key);
    // A run going on says it in its note ('models'); one about to start, in its error.
    if (!running()) showError(sentence(msg.message));
  });
  on('crash', (msg) => onCrash(msg.message));
  on('lost', (msg) => onCrash(sentence(msg.message), true));
}
