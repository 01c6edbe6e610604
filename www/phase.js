// The run's phase: one value, and the transitions it may take, all here.
//   idle       no run yet
//   preparing  Start pressed: the images read, the models fetched, the engine not painting yet
//   painting   the engine paints (its last size may wait for a model: state.awaiting names it)
//   pausing    Pause pressed, the engine not there yet
//   paused
//   stopping   Stop pressed, the engine not there yet
//   done       the run ended by itself
//   stopped    ended by Stop, or by another engine chosen
//   failed     ended by a bad input or setting, or by the engine crashing under it

import { state } from './state.js';

/** Each phase and the phases it may go to. */
export const NEXT = Object.freeze({
  idle: ['preparing'],
  // back to idle: the engine was replaced before the run began, and it begins again on the new one
  preparing: ['painting', 'stopped', 'failed', 'idle'],
  painting: ['pausing', 'stopping', 'done', 'stopped', 'failed'],
  pausing: ['paused', 'stopping', 'done', 'stopped', 'failed'],
  paused: ['painting', 'stopping', 'stopped', 'failed'],
  stopping: ['stopped', 'done', 'failed'],
  done: ['preparing'],
  stopped: ['preparing'],
  failed: ['preparing'],
});

const UNDER_WAY = new Set(['preparing', 'painting', 'pausing', 'paused', 'stopping']);

/** Whether a run is under way: from Start to its end. */
export const running = () => UNDER_WAY.has(state.phase);

/** Whether the phase is one of `phases`. */
export const phaseIs = (...phases) => phases.includes(state.phase);

/** Go to `phase`; a transition not in the table above is a bug, and throws. */
export function enter(phase) {
  const from = state.phase;
  if (from === phase) return;
  if (!NEXT[from]?.includes(phase)) throw new Error(`the run cannot go from ${from} to ${phase}`);
  state.phase = phase;
}
