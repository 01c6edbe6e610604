// What the buttons allow, and what the page shows, from the state alone: called after anything
// changes. Start says why it cannot start yet.

import { $, formatTime } from './dom.js';
import { state } from './state.js';
import { running, phaseIs } from './phase.js';
import { LATER_FRAME_SHARE_WORDS, shotSeconds } from './film.js';
import { coreBounds } from './settings.js';

// The timelapse needs a WebM recorder; where there is none its button is absent.
export const TIMELAPSE_TYPE = (() => {
  if (typeof MediaRecorder === 'undefined' || !HTMLCanvasElement.prototype.captureStream) return null;
  return ['video/webm;codecs=vp9', 'video/webm;codecs=vp8', 'video/webm'].find((t) => MediaRecorder.isTypeSupported(t)) || null;
})();

function startHint() {
  const { files, pending } = state;
  if (running()) return phaseIs('stopping') ? 'Stopping…' : 'Painting. Stop (or let it finish) to start again.';
  const checking = ['content', 'style'].filter((s) => pending[s]);
  if (checking.length) return `Checking the ${checking.map((s) => `${s} image`).join(' and the ')}…`;
  const missing = ['content', 'style'].filter((s) => !files[s]);
  if (missing.length === 2) return 'Add a content image and a style image, or try an example.';
  if (missing.length === 1) return `Add a ${missing[0]} image to start.`;
  if (!state.ready) return 'Start is ready as soon as the engine is.';
  if (state.video) {
    const seconds = shotSeconds(state.video, Number($('size').value), coreBounds()?.shotSide[1] ?? Infinity, $('model').value);
    const cost = seconds != null ? `about ${formatTime(seconds)} here, by the last clip painted on this device`
      : `the first takes as long as a photo, each later one starts from it and takes about ${LATER_FRAME_SHARE_WORDS} of that`;
    return `Press Start to paint the clip's ${state.video.frames} frames: ${cost}.`;
  }
  return 'Press Start to paint.';
}

/** Whether "Go on" can paint on: the time limit made the last painting smaller, and it is still
 * of the images chosen now. */
export function canGoOnward() {
  const p = state.planned;
  return Boolean(p && state.hasResult && ['content', 'style', 'style2'].every((k) => p.files[k] === state.files[k]));
}

export function updateButtons() {
  const { files, pending } = state;
  const both = files.content && files.style && !pending.content && !pending.style;
  $('start').disabled = !(state.ready && both && !running());
  $('start-hint').textContent = startHint();
  $('example').disabled = running();
  // Pause and Stop are there while a run is; each says at once that it was pressed. Pause waits
  // for the engine to begin painting.
  $('pause').hidden = !running();
  $('stop').hidden = !running();
  $('pause').disabled = !phaseIs('painting', 'paused');
  $('pause').textContent = phaseIs('pausing') ? 'Pausing…' : phaseIs('paused') ? 'Resume' : 'Pause';
  $('stop').disabled = phaseIs('stopping');
  $('stop').textContent = phaseIs('stopping') ? 'Stopping…' : 'Stop';
  // "Paint the last size without VGG16" (run.js goWithout) while a run paints and waits for it.
  $('without-wrap').hidden = !(state.awaiting && phaseIs('painting', 'pausing'));
  // "Go on to N px" (run.js goOnward) once a run the time limit painted smaller has ended.
  $('onward-wrap').hidden = !(canGoOnward() && !running());
  if (state.planned) $('onward').textContent = `Go on to ${state.planned.asked} px`;
  $('download').disabled = !state.hasResult;
  $('download').textContent = state.shot ? 'Download video' : 'Download';
  // A shot's video is its download; the timelapse is an image's.
  $('timelapse').hidden = !TIMELAPSE_TYPE || Boolean(state.shot);
  // The before/after divider lays the photo over the painting: a shot has a photo per frame.
  $('compare').hidden = Boolean(state.shot);
  $('divider').hidden = Boolean(state.shot);
  $('timelapse').disabled = !(TIMELAPSE_TYPE && state.frames.length > 1 && !state.recording);
  // The painting takes the main area once there is one (or one is coming); no empty boxes before.
  const showStage = running() || state.hasResult;
  $('stage').hidden = !showStage;
  document.body.classList.toggle('has-result', showStage);
  $('details').hidden = !state.history.length;
}
