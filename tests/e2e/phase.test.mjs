// The page's run phase (www/phase.js) without a browser: the table's transitions are the only
// ones taken, every phase is reachable from the first visit, and no run can get stuck.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { state } from '../../www/state.js';
import { NEXT, enter, running, phaseIs } from '../../www/phase.js';

const ENDS = ['done', 'stopped', 'failed'];

test('a run goes through its phases by the table, and a transition not in it throws', () => {
  assert.equal(state.phase, 'idle');
  assert.equal(running(), false);
  // Start, the engine paints, Pause, Resume, Pause while it pauses is ignored by the page, Stop.
  for (const p of ['preparing', 'painting', 'pausing', 'paused', 'painting', 'stopping', 'stopped']) {
    enter(p);
    assert.equal(state.phase, p);
    assert.equal(running(), !ENDS.includes(p), p);
  }
  assert.ok(phaseIs('done', 'stopped') && !phaseIs('done'));
  // Nothing paints before a Start; a run that ended does not pause or end again.
  for (const [from, to] of [['stopped', 'painting'], ['stopped', 'paused'], ['stopped', 'done']]) {
    assert.equal(state.phase, from);
    assert.throws(() => enter(to), new RegExp(`from ${from} to ${to}`));
    assert.equal(state.phase, from, 'a refused transition changes nothing');
  }
  enter('preparing');
  assert.throws(() => enter('paused'), /from preparing to paused/);
  enter('failed');
  state.phase = 'idle';
});

test('every phase is reachable from the first visit, and every run under way can end', () => {
  const phases = Object.keys(NEXT);
  const reach = (from) => {
    const seen = new Set([from]);
    for (const queue = [from]; queue.length;) for (const next of NEXT[queue.shift()]) if (!seen.has(next)) { seen.add(next); queue.push(next); }
    return seen;
  };
  assert.deepEqual([...reach('idle')].sort(), [...phases].sort());
  for (const p of phases) {
    assert.ok(NEXT[p].every((q) => q in NEXT), `${p} leads only to phases of the table`);
    if (!ENDS.includes(p) && p !== 'idle') assert.ok(ENDS.some((e) => reach(p).has(e)), `${p} can end`);
    if (ENDS.includes(p)) assert.deepEqual(NEXT[p], ['preparing'], `after ${p}, only a new run`);
  }
});
