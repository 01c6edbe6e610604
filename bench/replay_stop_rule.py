#!/usr/bin/env python3
"""Replay stopping rules on the last stage of recorded time-to-quality runs (impasto-lab ttq JSON:
every iteration's own loss in `totals`, judged snapshots in `snapshots`), without running
anything: where would each rule stop, and how good (neutral-judged, relative to the same pair's
CS20 run) is the picture there? The rule is src/stopping.rs's: stop once the best loss improved by
less than `tolerance` per iteration (relative) over the last `window` iterations, after `min`.

  bench/replay_stop_rule.py RESULTS.json [RECIPE] [FIRST_ITERATION_OF_LAST_STAGE]
"""
import json, math, sys

def stop_at(totals, window, tol, mn):
    best, b = [], math.inf
    for t, loss in enumerate(totals, 1):
        b = min(b, loss)
        best.append(b)
        if t > window and t >= mn and (best[t - 1 - window] - b) / (window * b) < tol:
            return t
    return len(totals)

path = sys.argv[1]
recipe = sys.argv[2] if len(sys.argv) > 2 else "ladder-mixed-lbfgs"
skip = int(sys.argv[3]) if len(sys.argv) > 3 else 200  # 100 + 100 coarse iterations
runs = json.load(open(path))
cs20 = {(r["content"], r["style"]): r for r in runs if r["recipe"] == "cs20"}
for window in (5, 10, 20):
    for tol in (4e-3, 1e-2, 2e-2, 3e-2, 5e-2):
        cells = []
        for r in (r for r in runs if r["recipe"] == recipe):
            ref = cs20[(r["content"], r["style"])]
            last = ref["snapshots"][-1]
            t = skip + stop_at(r["totals"][skip:], window, tol, 20)
            s = [s for s in r["snapshots"] if s["iteration"] <= t][-1]
            ok = s["style"] <= 1.1 * last["style"] and s["content"] <= 1.25 * last["content"]
            cells.append(f"{r['style'][:10]} {t - skip:3d} it style {s['style'] / last['style']:.2f} "
                         f"content {s['content'] / last['content']:.2f} {'ok' if ok else '--'} "
                         f"time {s['ms'] / ref['total_ms']:.2f}")
        print(f"window {window:2d} tolerance {tol:<6g} | " + " | ".join(cells))
