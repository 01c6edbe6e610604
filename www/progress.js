// Progress of a run: the bar, the status line with an honest time left, and the screen reader's
// announcements (every 10 %, not every iteration).

import { $, setStatus, announce, formatTime } from './dom.js';
import { state } from './state.js';

// The first iterations of each stage compile GPU kernels and fill caches: they are not counted
// in the rate, and no time left is shown before a few iterations after them.
const WARMUP = 2;
const MEASURED = 3;

let stage = null; // {stage, base: {ms, it} | null}: the current stage's rate baseline
let warm = null; // {ms, p}: the run's first point after warm-up, for automatic runs
let tenths = 0; // the last 10 % step announced

export function resetProgress() {
  stage = null;
  warm = null;
  tenths = 0;
  $('progress-fill').style.width = '0';
  const bar = $('progress');
  bar.dataset.iteration = '0';
  bar.setAttribute('aria-valuenow', '0');
  bar.setAttribute('aria-valuemax', String(state.total ?? 100));
  bar.removeAttribute('aria-valuetext');
}

/** How far the run is, 0..1: the core's estimate where it gives one (runs that stop by themselves). */
function fraction(record) {
  if (typeof record.progress === 'number') return Math.min(1, Math.max(0, record.progress));
  return state.total ? Math.min(1, record.iteration / state.total) : 0;
}

/** Seconds left, or null while there is no fair estimate yet. */
function timeLeft(record, p) {
  if (!stage || stage.stage !== record.stage) stage = { stage: record.stage, base: null };
  if (!stage.base && record.stageIteration >= WARMUP) stage.base = { ms: record.elapsedMs, it: record.stageIteration };
  if (!warm && stage.base) warm = { ms: record.elapsedMs, p };
  const counted = stage.base ? record.stageIteration - stage.base.it : 0;
  if (counted < MEASURED) return { rate: null, left: null };
  const rate = counted / Math.max((record.elapsedMs - stage.base.ms) / 1000, 1e-9);
  if (state.total == null) {
    // Stopping by itself: the core's progress per second since warm-up.
    const gained = p - warm.p;
    const left = gained > 0.01 ? ((1 - p) * (record.elapsedMs - warm.ms)) / 1000 / gained : null;
    return { rate, left };
  }
  // A fixed count: this stage's rate; each later stage costs its share of pixels more per
  // iteration (one network paints every stage here: the page sends a fixed count only with its
  // preset changed by hand, and the full-quality ladder, whose last stage costs ~6× more per
  // pixel, needs the Balanced preset).
  const later = record.stages - record.stage;
  const perStage = later > 0 && state.stageIterations ? state.stageIterations : 0;
  let left = Math.max(0, state.total - record.iteration - later * perStage) / rate;
  for (let k = record.stage; k < record.stages; k++) {
    left += (perStage * (state.sides[k] / state.sides[record.stage - 1]) ** 2) / rate;
  }
  return { rate, left };
}

// Where a run's stages are painted by different networks (the full-quality ladder), each
// stage's line says which.
const MODEL_NAMES = { distilled: 'the distilled network', teacher: 'VGG16' };
function byModel(stage) {
  const models = state.models;
  if (!models.length || models.every((m) => m === models[0])) return '';
  return ` with ${MODEL_NAMES[models[stage - 1]] ?? models[stage - 1]}`;
}

export function showStep(record) {
  state.iteration = record.iteration;
  const p = fraction(record);
  const bar = $('progress');
  bar.dataset.iteration = String(record.iteration);
  if (state.total) {
    bar.setAttribute('aria-valuemax', String(state.total));
    bar.setAttribute('aria-valuenow', String(record.iteration));
    bar.setAttribute('aria-valuetext', `${record.iteration} of ${state.total}`);
  } else {
    bar.setAttribute('aria-valuemax', '100');
    bar.setAttribute('aria-valuenow', String(Math.round(100 * p)));
    bar.setAttribute('aria-valuetext', `about ${Math.round(100 * p)} %, iteration ${record.iteration}`);
  }
  $('progress-fill').style.width = `${100 * p}%`;
  const { rate, left } = timeLeft(record, p);
  const parts = [`Iteration ${record.iteration}${state.total ? ` / ${state.total}` : ''}`];
  if (!state.total && p >= 0.01) parts.push(`about ${Math.round(100 * p)} %`);
  if (record.stages > 1) parts.push(`scale ${record.stage}/${record.stages}, ${record.width}×${record.height}${byModel(record.stage)}`);
  if (rate) parts.push(`${rate.toFixed(2)} it/s`);
  if (left != null) parts.push(`about ${formatTime(left)} left`);
  setStatus(parts.join(' · '));
  const t = Math.floor(10 * p + 1e-9);
  if (t > tenths && t < 10) {
    tenths = t;
    announce(`Painting ${10 * t} % done.`);
  }
}

/** The bar at its end (a run that stopped by itself may end short of its estimate). */
export function showFinished() {
  $('progress-fill').style.width = '100%';
  if (!state.total) $('progress').setAttribute('aria-valuenow', '100');
}
