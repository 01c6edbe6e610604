// Timelapse: about 100 snapshots taken during the run, replayed into a WebM video at a fixed
// rate through MediaRecorder (the button is absent where there is no WebM recorder).

import { $, setStatus, showError, saveBlob } from './dom.js';
import { state } from './state.js';
import { TIMELAPSE_TYPE, updateButtons } from './ui.js';

const FPS = 15;

export function snapshot(iteration, total) {
  if (!TIMELAPSE_TYPE) return;
  // Without a known total (the core stops by itself) snapshots thin out as the run goes on.
  const every = total ? Math.max(1, Math.ceil(total / 100)) : Math.max(1, 2 ** Math.floor(Math.log2(Math.max(1, iteration / 50))));
  if (iteration % every !== 0 && iteration !== 1 && iteration !== total) return;
  $('result').toBlob((blob) => { if (blob) { state.frames.push(blob); updateButtons(); } }, 'image/webp', 0.9);
}

export async function timelapse() {
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
    const recorder = new MediaRecorder(canvas.captureStream(FPS), { mimeType: TIMELAPSE_TYPE });
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
      await new Promise((r) => setTimeout(r, 1000 / FPS));
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
