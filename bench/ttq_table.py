#!/usr/bin/env python3
"""Tables from a time-to-quality run (impasto-lab ttq JSON), in Markdown for BENCHMARKS.md: for
each pair, CS20's stepping time and, per recipe, its time to CS20's quality (first snapshot with
neutral-judged style ≤ 1.1× and content ≤ 1.05× CS20's final), the whole run's time over CS20's
where the painting it ends with is at that bar ("–" where not), and its final picture's
neutral-judged style and content relative to CS20's, with its iterations and whole-run time.

  bench/ttq_table.py RESULTS.json
"""
import json, sys

runs = json.load(open(sys.argv[1]))
cs20 = {(r["content"], r["style"], r["size"]): r for r in runs if r["recipe"] == "cs20"}
recipes = [r for r in dict.fromkeys(r["recipe"] for r in runs) if r != "cs20"]
stem = lambda f: f.rsplit(".", 1)[0]

print("| pair | size | CS20 (s) | recipe | time to quality (s) | ratio | iterations | whole run (s, ratio) | final style, content vs CS20 |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
worst = {}
for key, ref in cs20.items():
    last = ref["snapshots"][-1]
    for name in recipes:
        r = next((x for x in runs if x["recipe"] == name and (x["content"], x["style"], x["size"]) == key), None)
        if r is None:
            continue
        fin = r["snapshots"][-1]
        ttq = "never" if r["ttq_ms"] is None else f"{r['ttq_ms'] / 1000:.1f}"
        ratio = "–" if r["ratio"] is None else f"**{r['ratio']:.2f}**"
        worst[name] = max(worst.get(name, 0), r["ratio"] if r["ratio"] is not None else float("inf"))
        print(f"| {stem(key[0])} + {stem(key[1])} | {key[2]} | {ref['total_ms'] / 1000:.0f} | {name} | {ttq} | {ratio} | "
              f"{r['iterations']} | {r['total_ms'] / 1000:.1f} ({r['total_ms'] / ref['total_ms']:.2f}) | "
              f"{fin['style'] / last['style']:.2f}×, {fin['content'] / last['content']:.2f}× |")
print()
for name, w in worst.items():
    print(f"worst case {name}: {'never (on some pair)' if w == float('inf') else f'{w:.2f}× CS20'}")
