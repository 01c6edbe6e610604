// The page's entry point: wires the modules together and starts the engine. Nothing here (or
// anywhere on the page) runs the optimization: the worker does (www/worker.js).
//
//   files.js       drop targets, paste, the core's check of each file, errors in place
//   settings.js    the form: the core's defaults and presets, kept across visits
//   engine.js      the worker: start, restart, messages
//   run.js         Start, Pause, Stop, resume after a lost engine, the engine's messages
//   phase.js       the run's phase and the transitions it may take
//   progress.js    progress bar, status, time left, screen-reader announcements
//   result.js      the painting: drawing, description, kept in IndexedDB, Download
//   compare.js     the before/after divider on the painting
//   chart.js       the loss chart          timelapse.js  the WebM of a run
//   film.js        a clip as the content: read, kept frame by frame, written back as a video
//   samples.js     Try an example          sw-register.js  offline (service worker)
//   ui.js          what the buttons allow  store.js      IndexedDB
//   weights.js     model weights           state.js, dom.js  shared state and helpers

import { $ } from './dom.js';
import { state } from './state.js';
import { enter, running } from './phase.js';
import { on, post, startWorker } from './engine.js';
import { wireFiles, onChecked, restoreShot } from './files.js';
import { configure, loadSaved, wireSettings, deviceChoice } from './settings.js';
import { wireRun, start, pause, stop, resumeAfterCrash, goWithout, goOnward } from './run.js';
import { restoreResult, download } from './result.js';
import { downloadShot, loadShotSpeed } from './film.js';
import { wireCompare } from './compare.js';
import { timelapse } from './timelapse.js';
import { tryExample } from './samples.js';
import { knowModels } from './weights.js';
import { registerServiceWorker } from './sw-register.js';
import { updateButtons } from './ui.js';

let configured = false;
// The core's defaults and presets come with the first engine; a restarted engine's are the same.
on('config', (msg) => {
  if (configured) return;
  configured = true;
  knowModels(msg.models);
  configure(msg);
});
on('checked', onChecked);

wireFiles();
wireRun();
wireCompare();
wireSettings(() => {
  // Another engine: the running one ends (its last image stays on screen).
  if (running()) enter('stopped');
  startWorker(deviceChoice());
});
$('start').addEventListener('click', () => start());
$('example').addEventListener('click', tryExample);
$('pause').addEventListener('click', pause);
$('stop').addEventListener('click', stop);
$('without').addEventListener('click', goWithout);
$('onward').addEventListener('click', goOnward);
// A shot's Download is its clip, as a video; an image's, the painting.
$('download').addEventListener('click', () => (state.shot ? downloadShot() : download()));
$('timelapse').addEventListener('click', timelapse);
$('crash-dismiss').addEventListener('click', () => { $('crash').hidden = true; });
$('crash-resume').addEventListener('click', resumeAfterCrash);
// The fault test (#dev-faults) destroys the GPU device as a driver reset would.
if (location.hash.includes('faults')) /** @type {any} */ (window).impastoFaults = { loseDevice: () => post({ type: 'lose-device' }) };
// A clip's estimate before Start follows its size and network.
$('size').addEventListener('input', updateButtons);
$('model').addEventListener('change', updateButtons);
loadShotSpeed().then(updateButtons);
updateButtons();

// The kept settings first: Compute decides which engine starts.
loadSaved().then(() => {
  startWorker(deviceChoice());
  restoreResult().then(restoreShot);
});
registerServiceWorker();
