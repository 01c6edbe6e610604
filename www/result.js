// The painting: drawn from each iteration's pixels, described for screen readers, kept in
// IndexedDB so a reload or a crash of the tab offers it again, and saved as a PNG.

import { $, saveBlob, showError } from './dom.js';
import { state } from './state.js';
import { keep, kept } from './store.js';
import { updateButtons } from './ui.js';
import { showCompare } from './compare.js';

function fit(width, height) {
  const canvas = $('result');
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
    // The frame keeps the picture's shape at any size (style.css: --ratio).
    $('result-wrap').style.setProperty('--ratio', `${width} / ${height}`);
  }
  return canvas;
}

export function draw({ rgba, width, height }) {
  fit(width, height).getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
  state.hasResult = true;
}

/** What the Result canvas shows, in words (it is an image to assistive technology). */
export function describeResult(text) {
  $('result').setAttribute('aria-label', `Result: ${text}`);
}

export function describeRun(iteration) {
  const title = (file) => file?.name.replace(/\.[a-z0-9]{2,5}$/i, '');
  const photo = title(state.files.content);
  const painting = title(state.files.style);
  const what = photo && painting ? `“${photo}” painted in the style of “${painting}”` : 'the painting';
  describeResult(`${what}, iteration ${iteration}`);
}

// Kept when a run pauses, stops or ends, and every few seconds while it runs.
const KEEP_EVERY_MS = 5000;
let lastKept = 0;
let keeping = false;

export function keepResult(force) {
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

/** Show a kept painting (a PNG) where no run has drawn yet, with `notice` above it and
 * `description` for screen readers; false where it is not shown. */
export async function showKept(png, notice, description) {
  if (!(png instanceof Blob) || state.hasResult) return false;
  try {
    const bitmap = await createImageBitmap(png);
    if (state.hasResult) return false; // a run drew meanwhile
    fit(bitmap.width, bitmap.height).getContext('2d').drawImage(bitmap, 0, 0);
    bitmap.close();
  } catch { return false; } // an unreadable entry: nothing to offer
  state.hasResult = true;
  $('notice').textContent = notice;
  $('notice').hidden = false;
  describeResult(description);
  showCompare();
  updateButtons();
  return true;
}

export async function restoreResult() {
  const r = await kept('result');
  if (!r) return;
  const when = new Date(r.savedAt).toLocaleString();
  const shown = await showKept(r.png, `Your last result (iteration ${r.iteration}, ${when}) is restored; Download saves it.`,
    `your last painting, kept from ${when} (iteration ${r.iteration})`);
  if (shown) state.iteration = r.iteration;
}

export function download() {
  $('result').toBlob((blob) => {
    if (!blob) { showError('The result could not be encoded as PNG.'); return; }
    saveBlob(blob, `impasto-${state.iteration}.png`);
  }, 'image/png');
}
