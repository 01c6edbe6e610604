// The page's shared state: one object the modules read and write (no framework, no events bus
// beyond engine.js's message handlers).

export const state = {
  files: { content: null, style: null, style2: null }, // accepted File objects (checked by the core)
  // The content is a clip (film.js): {file, frames, fps, width, height, poster}, else null.
  video: null,
  // The shot being painted or painted last: {n, fps, index, done, pngs, times, frameStarted,
  // iterations, lastIteration, record, first} (run.js startShot, film.js), else null (an image's
  // run).
  shot: null,
  pending: { content: null, style: null, style2: null }, // files being checked: {id, file}
  worker: null,
  ready: false, // the engine is up and can run
  backend: null, // 'wgpu' or 'cpu'
  threads: null, // the CPU engine's threads (null on WebGPU)
  shotSpeed: null, // what the last shot measured here (film.js loadShotSpeed)
  loadedModels: new Set(), // the models the engine holds, by name
  runId: 0,
  phase: 'idle', // the run's phase: phase.js says which there are and how one leads to another
  pendingStart: null, // a start asked for before the engine was ready: its options ({preview})
  total: null, // iterations of the whole run, or null where the core stops by itself
  iteration: 0,
  stepsThisRun: 0, // iterations drawn by the current run (0: nothing ran yet)
  hasResult: false,
  iterationOffset: 0, // iterations done before a resumed run began
  stageIterations: null, // iterations of each coarse-to-fine stage (null: automatic)
  sides: [],
  models: [], // the network of each stage ('distilled' or 'teacher')
  awaiting: null, // the model the run's last size waits for (the page offers to go on without it)
  wentWithout: 0, // the run whose last size the person chose to paint without its model
  resumable: null, // {iteration, total} of a run the engine lost
  // Where the time limit painted the run smaller: {asked, side, files} (the last size the run was
  // to paint, the one it paints, and the images it paints), or null. "Go on to {asked} px" is
  // offered for those images; a resume after a crash keeps to {side}.
  planned: null,

  pendingResume: false,
  history: [], // {iteration, ...record.terms} per displayed iteration, for the chart
  frames: [], // WebP snapshots for the timelapse
  recording: false,
  updateAccepted: false,
};
