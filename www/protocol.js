// The page↔worker protocol: every message the page (engine.js) and the engine's worker
// (worker.js) send each other, as JSDoc types. tsc (tests/types) checks both sides against them;
// the module has no code.

/**
 * Messages in.
 * - init: 'auto' takes the CPU where WebGPU is software emulation; `faults` enables 'lose-device'
 *   (tests only).
 * - check: can the core use this image? (`what` names it in the answer's message)
 * - model: load weights as model `key` ('distilled' or 'teacher'). A run names the model it asks
 *   for in options.model ('auto', 'distilled' or 'teacher'); an 'auto' run may start before the
 *   teacher is here: its last size waits for it.
 * - model-unavailable: the page could not fetch model `key` for run `runId` (offline, a failed
 *   download): that run paints without it.
 * - start: `styles` one file per painting, blended by `styleWeights`; options.iterations (per
 *   stage) null: the core stops by itself; `resume` goes on from a kept image, `done` iterations
 *   into the run (`onward`: from a finished painting the time limit made smaller, on to the larger
 *   sizes asked for).
 * - shot: paint a film shot's frames (RGBA, `width`×`height` each) in order, from frame `from`;
 *   going on after a reload, `previous` is the kept painting of frame `from − 1` (the painted
 *   size, RGBA). Pause, resume and stop act on the shot.
 * - lose-device: destroy the GPU device, as a driver reset would (tests).
 * @typedef {{type: 'init', device: 'auto' | 'gpu' | 'cpu', faults?: boolean}
 *   | {type: 'check', id: number, slot: string, what: string, bytes: ArrayBuffer}
 *   | {type: 'model', key: string, weights: ArrayBuffer}
 *   | {type: 'model-unavailable', runId: number, key: string, message: string}
 *   | {type: 'start', runId: number, content: ArrayBuffer, styles: ArrayBuffer[], styleWeights: number[],
 *      options: object, resume: {rgba: ArrayBuffer, width: number, height: number, done: number, onward?: boolean} | null}
 *   | {type: 'shot', runId: number, frames: ArrayBuffer[], width: number, height: number, styles: ArrayBuffer[],
 *      styleWeights: number[], options: object, from: number, previous: ArrayBuffer | null}
 *   | {type: 'pause'} | {type: 'resume'} | {type: 'stop'} | {type: 'lose-device'}} In
 */

/**
 * Messages out.
 * - config: the core's presets(), defaultOptions(), bounds(), choices(), pictureSettings() and
 *   models(), as soon as the module is loaded.
 * - ready: `software`: the WebGPU adapter is an emulation; `reason`: why the CPU ('software',
 *   'chosen', or null: no WebGPU, `fallbackReason` says why); on the CPU, `threads` it computes
 *   on, and `threadsReason` why only one (or null).
 * - started: `sides` the long side of each stage (one unless coarse to fine), `models` the model
 *   of each, `total` the iterations of all (null where the core stops by itself), `notice` why
 *   the size differs from the one asked for, `pending` the model the last size waits for (the
 *   page fetches it now).
 * - planned: after the first size, the time limit's plan changed the sizes or will not end in
 *   time: `line` says what and why.
 * - awaiting: the run's last size waits for `model`'s weights.
 * - models: the models of the stages changed (the last size painted without the teacher:
 *   `without` says why).
 * - step: `record.finished` ends the run (a shot's frame); `record.progress` is the core's
 *   estimate, 0..1 (of the frame, in a shot).
 * - frame-start: a shot begins painting frame `index` of `n` (from 0).
 * - frame: a shot's frame `index` is painted: `rgba` is its painting. After the last, 'done'.
 * - paused, done, stopped: with the engine's memory: wasm linear memory (it never shrinks: a leak
 *   shows as growth) and the bytes of live WebGPU buffers.
 * - error: a bad input or setting, as data (`failure`): the page shows it where it belongs.
 * - model-error: the weights could not be loaded.
 * - crash: the wasm instance aborted; lost: the GPU device was lost. The page starts a new worker
 *   (and offers to resume from the last image).
 * @typedef {{iteration: number, stageIteration: number, stage: number, stages: number, width: number, height: number,
 *   terms: {content: number, style: number, tv?: number, temporal?: number}, total: number, elapsedMs: number,
 *   finished: boolean, progress: number}} StepRecord
 *   One iteration (the core's multiscale::ScaleRecord); `terms` has each term of the loss by name
 *   (loss::Term), unweighted, and only those the run's loss has.
 * @typedef {{type: 'config', presets: any, defaults: any, bounds: any, choices: Record<string, string[]>, pictureSettings: string[],
 *      models: Models}
 *   | {type: 'checked', id: number, slot: string, ok: true, width: number, height: number}
 *   | {type: 'checked', id: number, slot: string, ok: false, message: string}
 *   | {type: 'ready', backend: string, fallbackReason: string | null, reason: string | null, software: boolean,
 *      adapter: string | null, threads: number | null, threadsReason: string | null}
 *   | {type: 'started', runId: number, width: number, height: number, sides: number[], models: string[],
 *      total: number | null, notice: string | null, pending: string | null}
 *   | {type: 'planned', runId: number, line: string, sides: number[], models: string[], total: number | null}
 *   | {type: 'awaiting', runId: number, model: string}
 *   | {type: 'models', runId: number, models: string[], without: string | undefined}
 *   | {type: 'step', runId: number, record: StepRecord, rgba: ArrayBuffer, width: number, height: number}
 *   | {type: 'frame-start', runId: number, index: number, n: number}
 *   | {type: 'frame', runId: number, index: number, rgba: ArrayBuffer, width: number, height: number}
 *   | ({type: 'paused'} & Ending) | ({type: 'done'} & Ending) | ({type: 'stopped'} & Ending)
 *   | ({type: 'error', runId: number} & Failure)
 *   | {type: 'model-error', key: string, message: string}
 *   | {type: 'crash', message: string} | {type: 'lost', message: string}} Out
 * @typedef {{runId: number, iteration: number, wasmBytes: number, gpuBytes: number}} Ending
 */

/**
 * The core's models(): each model's name, weight file (under models/) and label; the models a
 * run asked of each choice loads before it starts; the model that finishes 'auto''s ladder.
 * @typedef {{list: {name: string, file: string, label: string}[], loads: Record<string, string[]>, finish: string}} Models
 */

/**
 * A thrown error as data. The core's errors carry `kind` ('unsupported-format', 'too-small',
 * 'invalid-setting', …) and `input`, the image they are about ('content', 'style', 'style2') or
 * null; anything else (a JS failure) has neither.
 * @typedef {{message: string, kind: string | null, input: string | null}} Failure
 */

export {};
