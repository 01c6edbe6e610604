// The images: three drop targets (content, style, second style) that take a drop, a paste or a
// chosen file. Every file is checked by the core's own decode path in the worker as soon as it is
// chosen, and a file that cannot be used gets its one-sentence reason inside its own target; the
// other images, and the image that target held before, are kept.

import { $, sentence } from './dom.js';
import { state } from './state.js';
import { post } from './engine.js';
import { updateButtons } from './ui.js';
import { boundsReady } from './settings.js';
import { isVideo, probe, keptShot, keptFrame, newShot } from './film.js';
import { showKept } from './result.js';

export const SLOTS = {
  content: { label: 'Content image', what: 'the content image' },
  style: { label: 'Style image', what: 'the style image' },
  style2: { label: 'Second style', what: 'the second style image' },
};

// state.pending: slot → {id, file}, a file sent to the worker to be checked, not answered yet.
const pending = state.pending;
let nextCheck = 0;

function showFileError(slot, message) {
  const el = $(`${slot}-error`);
  el.textContent = message;
  el.hidden = !message;
}

/** Every way a file arrives ends here. */
export async function choose(file, slot) {
  if (!file) return;
  showFileError(slot, '');
  const id = ++nextCheck;
  pending[slot] = { id, file };
  $(`${slot}-hint`).textContent = `Checking “${file.name}”…`;
  updateButtons();
  // A clip as the content: a film shot, read here (WebCodecs), not by the core's image decoder.
  if (slot === 'content' && isVideo(file)) return chooseVideo(file, id);
  const bytes = await file.arrayBuffer();
  if (pending[slot]?.id !== id) return; // another file was chosen meanwhile
  post({ type: 'check', id, slot, what: SLOTS[slot].what, bytes }, [bytes]);
}

async function chooseVideo(file, id) {
  try {
    const info = await probe(file, await boundsReady);
    if (pending.content?.id !== id) return;
    accept('content', file, info, { file, ...info });
  } catch (err) {
    if (pending.content?.id !== id) return;
    pending.content = null;
    refuse('content', sentence(err.message), file);
  }
}

/** A file that needs no check (a sample shipped with the app), or one checked: taken as it is.
 * `video`: the content is a clip (its first frame is shown). */
export function accept(slot, file, size, video = null) {
  pending[slot] = null;
  showFileError(slot, '');
  state.files[slot] = file;
  if (slot === 'content') state.video = video;
  const thumb = $(`${slot}-thumb`);
  if (thumb.src) URL.revokeObjectURL(thumb.src);
  thumb.src = URL.createObjectURL(video ? video.poster : file);
  thumb.alt = `${SLOTS[slot].label}: ${file.name}${video ? ' (its first frame)' : ''}`;
  thumb.hidden = false;
  // A format the core reads but this browser cannot show (or the reverse): the name says it.
  thumb.onerror = () => { thumb.hidden = true; };
  const dims = size ? ` (${size.width} × ${size.height})` : '';
  const clip = video ? `, ${video.frames} frames at ${Math.round(video.fps * 100) / 100} fps` : '';
  $(`${slot}-hint`).textContent = `${file.name}${dims}${clip} — drop, paste or choose another`;
  $(`drop-${slot}`).classList.add('has-image');
  if (slot === 'style2') $('blend-field').hidden = false; // the blend and Remove, with a second style
  updateButtons();
}

/** The worker's verdict on a chosen file. */
export function onChecked(msg) {
  const p = pending[msg.slot];
  if (!p || p.id !== msg.id) return; // superseded
  pending[msg.slot] = null;
  if (msg.ok) {
    accept(msg.slot, p.file, msg);
  } else {
    refuse(msg.slot, sentence(msg.message), p.file);
  }
}

/**
 * A file the core refused, here or when a run started: the sentence goes inside the target; the
 * image it held before stays (if the refused file is that image, it goes).
 */
export function refuse(slot, message, file = state.files[slot]) {
  if (state.files[slot] === file) clear(slot);
  else restoreHint(slot);
  showFileError(slot, message);
  updateButtons();
}

function restoreHint(slot) {
  const f = state.files[slot];
  $(`${slot}-hint`).textContent = f ? `${f.name} — drop, paste or choose another`
    : { content: 'Your photo (or a short clip) — drop it here, paste it, or choose a file', style: 'A painting — drop it here, paste it, or choose a file', style2: 'A second painting to blend with the first: drop, paste or choose' }[slot];
}

export function clear(slot) {
  state.files[slot] = null;
  if (slot === 'content') state.video = null;
  pending[slot] = null;
  const thumb = $(`${slot}-thumb`);
  thumb.hidden = true;
  $(`${slot}-file`).value = '';
  $(`drop-${slot}`).classList.remove('has-image');
  if (slot === 'style2') $('blend-field').hidden = true;
  restoreHint(slot);
  updateButtons();
}

/** A worker that was replaced lost the checks it had not answered: ask the new one. */
export function recheckPending() {
  for (const slot of Object.keys(pending)) if (pending[slot]) choose(pending[slot].file, slot);
}

export function wireFiles() {
  $('style2-clear').addEventListener('click', () => { clear('style2'); showFileError('style2', ''); });
  for (const slot of Object.keys(SLOTS)) {
    const input = $(`${slot}-file`);
    input.addEventListener('change', () => choose(input.files[0], slot));
    const zone = $(`drop-${slot}`);
    zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      e.stopPropagation();
      zone.classList.remove('over');
      choose(e.dataTransfer.files[0], slot);
    });
  }
  // Dropped anywhere else: the first empty target (two files: content and style).
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    const files = [...(e.dataTransfer?.files || [])];
    if (files.length >= 2) { choose(files[0], 'content'); choose(files[1], 'style'); } else if (files[0]) choose(files[0], emptySlot());
  });
  // Pasted: into the focused target, else the first empty one.
  document.addEventListener('paste', (e) => {
    const item = [...(e.clipboardData?.items || [])].find((i) => i.kind === 'file');
    if (!item) return;
    const focused = /** @type {HTMLElement | null | undefined} */ (document.activeElement?.closest?.('.drop'))?.dataset.slot;
    choose(item.getAsFile(), focused || emptySlot());
  });
}

const emptySlot = () => (!state.files.content ? 'content' : !state.files.style ? 'style' : 'content');

/** After a reload: the last shot (film.js keeps it; an image run since forgets it) gets its clip
 * and paintings back in their targets and its last painted frame on show. Download video writes
 * the frames painted; where some are left, Start goes on at the first of them. */
export async function restoreShot() {
  const s = await keptShot();
  if (!s || !s.done || state.files.content || pending.content) return;
  const png = await keptFrame(s.done - 1);
  if (!png) return; // (the shot then starts again from its first frame)
  choose(s.video, 'content');
  choose(s.style, 'style');
  if (s.style2) choose(s.style2, 'style2');
  state.shot = newShot({ key: s.key, name: s.name, n: s.n, fps: s.fps, done: s.done });
  state.hasResult = false; // the frame is shown in place of the last image kept
  const left = s.done < s.n ? `was interrupted after ${s.done} of ${s.n} frames: Start goes on from frame ${s.done + 1}, and Download video saves the frames painted`
    : `is painted (${s.n} frames): Download video saves it`;
  await showKept(png, `The shot of “${s.name}” ${left}.`, `frame ${s.done} of the shot of “${s.name}”, painted`);
}
