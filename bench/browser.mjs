// Impasto's iteration against its TF.js peer in one headless Chromium session, same sizes, same
// weights: on WebGPU (Impasto's WebGPU engine against TF.js's WebGPU and WebGL backends)
// and on the CPU (Impasto's CPU engine, burn-flex in wasm, against TF.js's wasm and cpu
// backends). Serves the repository's bench/, pkg/ and models/ on 127.0.0.1, opens
// bench/browser.html, prints the result as JSON (stdout) and a table (stderr).
// Run via scripts/bench --browser, or directly (after scripts/build-web and
// `(cd bench/tfjs && npm ci)`):
//   node bench/browser.mjs [--sizes 64,128] [--iterations 3] [--model teacher|distilled|teacher,distilled]
//     [--peers impasto,tfjs-webgpu,tfjs-webgl,impasto-step-rgba,impasto-frame,impasto-direct,impasto-gemm,
//              impasto-cpu,impasto-cpu-direct,impasto-cpu-gemm,tfjs-wasm,tfjs-cpu]
//     [--isolate off|on|both] [--isolated-peers …] [--wasm-threads N] [--reference] [--tolerance 1e-5]
//     [--warmup-ms 3000] [--aspect 0.75] [--out FILE]
// Each peer warms up (at least one iteration and at least --warmup-ms: kernels compiled, wasm
// tiered up) before its timed iterations; each point's median and fastest are recorded.
// `--isolate on` serves the page cross-origin isolated (COOP same-origin, COEP require-corp), so
// that it has SharedArrayBuffer and TF.js's wasm backend runs its threaded SIMD build (by default
// with half of navigator.hardwareConcurrency threads, at most 8: TF.js's own choice); `off` (the default) is a plain page (TF.js wasm
// single-threaded SIMD, as on a host without those headers); `both` runs the page twice, plain
// then isolated, in the same browser. Impasto's CPU engine is single-threaded either way here (its
// threaded module needs a worker: on a page's main thread rayon's waits spin; see bench/page-speed.mjs).
// `--wasm-threads N`: TF.js wasm's thread count when isolated (TF.js takes at most half of
// navigator.hardwareConcurrency, so the page is shown 2N cores: on a 2-core machine TF.js would
// otherwise run one thread even when isolated; the real count is in the results).
// Every peer starts from the content image, so at each size the first iteration's losses must agree
// (to `--tolerance`, relative) with the first peer's or, with `--reference`, with the float64
// computation of bench/tfjs/peer.js (referenceFirstLosses: plain loops, seconds per size): the check
// is written to the JSON (firstLossCheck), and a disagreement makes the exit status 1 (the results
// are still written).
import { chromium } from 'playwright-core';
import { fileURLToPath } from 'node:url';
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// `--name value` pairs; a `--name` followed by another `--…` (or nothing) is a flag, 'true'.
const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) =>
  (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1] === undefined || all[i + 1].startsWith('--') ? 'true' : all[i + 1]]] : pairs), []));
const peers = (args.peers || 'impasto,tfjs-webgpu,tfjs-webgl,impasto-step-rgba,impasto-frame').split(',');
// With --isolate both: the isolated run's peers (default: the same), e.g. only those whom
// isolation changes (tfjs-wasm's threads) and Impasto's.
const isolatedPeers = args['isolated-peers'] ? args['isolated-peers'].split(',') : peers;
const query = new URLSearchParams({
  sizes: args.sizes || '64',
  aspect: args.aspect || '0.75',
  iterations: args.iterations || '3',
  peers: peers.join(','),
  warmupMs: args['warmup-ms'] || '3000',
});
const wasmThreads = args['wasm-threads'] ? Number(args['wasm-threads']) : null;
if (wasmThreads) query.set('wasmThreads', String(wasmThreads));
const isolation = args.isolate || 'off';
const modes = { off: [false], on: [true], both: [false, true] }[isolation];
if (!modes) throw new Error(`--isolate ${isolation}: off, on or both`);
const tolerance = Number(args.tolerance || 1e-5);

// One page per model (and per isolation mode), one after the other, in the same browser.
const models = (args.model || 'teacher').split(',');
const needed = models.map((m) => `models/vgg16-${m}.bpk`);
const allPeers = [...peers, ...isolatedPeers];
if (allPeers.some((p) => p.startsWith('impasto'))) needed.push('pkg/impasto_bg.wasm');
if (allPeers.some((p) => p.startsWith('tfjs'))) needed.push('bench/tfjs/node_modules/@tensorflow/tfjs');
if (allPeers.includes('tfjs-webgpu')) needed.push('bench/tfjs/node_modules/@tensorflow/tfjs-backend-webgpu');
if (allPeers.includes('tfjs-wasm')) needed.push('bench/tfjs/node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm');
for (const f of needed) {
  if (!existsSync(path.join(ROOT, f))) {
    throw new Error(`${f} is missing: run scripts/bench --browser (or scripts/build-web, and (cd bench/tfjs && npm ci))`);
  }
}

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.bpk': 'application/octet-stream' };
let isolated = false; // the run in progress: send the cross-origin isolation headers
const server = http.createServer((req, res) => {
  const url = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  if (url === '/favicon.ico') { res.writeHead(204); res.end(); return; } // the browser asks; none
  const file = path.join(ROOT, path.normalize(url));
  const allowed = ['bench/', 'pkg/', 'models/'].some((d) => file.startsWith(path.join(ROOT, d)));
  if (!allowed || !existsSync(file)) { res.writeHead(404); res.end(); return; }
  const headers = { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream' };
  if (isolated) {
    // Everything is same-origin, so require-corp needs no Cross-Origin-Resource-Policy.
    headers['Cross-Origin-Opener-Policy'] = 'same-origin';
    headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
  }
  res.writeHead(200, headers);
  res.end(readFileSync(file));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const loadBefore = os.loadavg();
  const runs = [];
  for (const [model, mode] of models.flatMap((m) => modes.map((mode) => [m, mode]))) {
    isolated = mode;
    const page = await browser.newPage();
    if (wasmThreads) {
      // TF.js's wasm backend caps its threads at navigator.hardwareConcurrency / 2 (its
      // init_with_threads_count, backend.cc): on a machine with few cores, asking for more threads
      // means showing it more cores. The real count is kept for the results.
      await page.addInitScript((n) => {
        const real = navigator.hardwareConcurrency;
        window.realHardwareConcurrency = real;
        Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => Math.max(real, 2 * n), configurable: true });
      }, wasmThreads);
    }
    page.on('console', (m) => console.error(`[page${mode ? ', isolated' : ''}] ${m.text()}${m.type() === 'error' ? ` (${m.location().url})` : ''}`));
    page.on('pageerror', (e) => console.error(`[page error] ${e}`));
    page.on('response', (r) => { if (r.status() >= 400) console.error(`[page] ${r.status()} ${r.url()}`); });
    const pageQuery = new URLSearchParams(query);
    pageQuery.set('model', model);
    if (mode) pageQuery.set('peers', isolatedPeers.join(','));
    // The float64 reference once per model: the same in every run.
    if (args.reference && !runs.some((r) => r.model === model)) pageQuery.set('reference', '1');
    await page.goto(`${origin}/bench/browser.html?${pageQuery}`);
    const result = await page.evaluate(() => window.benchResult, null, { timeout: 0 });
    if (!result) throw new Error('the page gave no result (bench/browser.js did not load?)');
    if (result.error) throw new Error(result.error);
    if (result.crossOriginIsolated !== mode) {
      throw new Error(`the page is ${result.crossOriginIsolated ? '' : 'not '}cross-origin isolated, --isolate asked otherwise`);
    }
    runs.push({ model, ...result });
    await page.close();
  }
  const results = runs.flatMap((r) => r.results);
  const out = {
    date: new Date().toISOString(),
    chromium: browser.version(),
    command: `node bench/browser.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    host: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, loadBefore, loadAfter: os.loadavg() },
    userAgent: runs[0].userAgent,
    hardwareConcurrency: runs[0].hardwareConcurrency,
    adapter: runs.find((r) => r.adapter)?.adapter ?? null,
    isolation,
    results,
  };

  // Impasto / TF.js for each pair of peers at one size in the same page; the page's two ways of
  // showing an iteration; the two convolution routes.
  const samePoint = (a, b) => a.model === b.model && a.width === b.width && a.crossOriginIsolated === b.crossOriginIsolated;
  out.ratios = [];
  for (const r of results.filter((r) => r.peer.startsWith('impasto'))) {
    for (const t of results.filter((t) => t.peer.startsWith('tfjs') && samePoint(r, t))) {
      out.ratios.push({ model: r.model, width: r.width, height: r.height, crossOriginIsolated: r.crossOriginIsolated,
        impasto: r.peer, versus: t.peer, impastoOverPeer: r.msPerIteration / t.msPerIteration,
        firstStyleLossRatio: r.first.style / t.first.style });
    }
  }
  for (const f of results.filter((r) => r.peer === 'impasto-frame')) {
    const two = results.find((t) => t.peer === 'impasto-step-rgba' && samePoint(f, t));
    if (two) out.ratios.push({ model: f.model, width: f.width, height: f.height, versus: 'impasto-step-rgba', frameOverStepRgba: f.msPerIteration / two.msPerIteration });
  }
  for (const [gemm, direct] of [['impasto-gemm', 'impasto-direct'], ['impasto-cpu-gemm', 'impasto-cpu']]) {
    for (const g of results.filter((r) => r.peer === gemm)) {
      const d = results.find((t) => (t.peer === direct || t.peer === `${direct}-direct`) && t.engine.conv === 'direct' && samePoint(g, t));
      if (d) out.ratios.push({ model: g.model, width: g.width, height: g.height, crossOriginIsolated: g.crossOriginIsolated, peer: gemm, versus: d.peer,
        gemmOverDirect: g.msPerIteration / d.msPerIteration });
    }
  }

  // The first iteration's losses (all peers start from the content image) against the float64
  // reference (`--reference`) or else the first peer's at that model and size. The content loss
  // there is 0 (the image is the content): a loss under 1e-3 is compared absolutely.
  const diff = (a, b) => (Math.max(Math.abs(a), Math.abs(b)) < 1e-3 ? Math.abs(a - b) : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b)));
  out.references = runs.flatMap((r) => r.references);
  out.firstLossCheck = { tolerance, ok: true, sizes: [] };
  const points = results.filter((r, i, all) => all.findIndex((s) => s.model === r.model && s.width === r.width) === i);
  for (const { model, width, height } of points) {
    const at = results.filter((r) => r.model === model && r.width === width);
    const float64 = out.references.find((r) => r.model === model && r.width === width);
    const ref = float64 ? { peer: 'float64', first: float64.first } : at[0];
    const peersAt = at.map((r) => ({ peer: r.peer, crossOriginIsolated: r.crossOriginIsolated, style: r.first.style, content: r.first.content,
      styleDiff: diff(r.first.style, ref.first.style), contentDiff: diff(r.first.content, ref.first.content) }));
    const maxDiff = Math.max(...peersAt.map((p) => Math.max(p.styleDiff, p.contentDiff)));
    const ok = maxDiff <= tolerance;
    out.firstLossCheck.sizes.push({ model, width, height, reference: ref.peer, referenceStyle: ref.first.style, maxDiff, ok, peers: peersAt });
    if (!ok) out.firstLossCheck.ok = false;
  }

  const json = JSON.stringify(out, null, 1);
  if (args.out) writeFileSync(args.out, json);
  console.log(json);

  // For people: ms/iteration (median; the fastest in brackets), peer by size, per model.
  const label = (r) => `${r.peer}${r.peer === 'tfjs-wasm' ? ` (${r.engine.threads} thread${r.engine.threads === 1 ? '' : 's'})` : ''}`;
  const columns = [...new Set(results.map(label))];
  console.error(`\n${out.command}\nms/iteration, median of ${query.get('iterations')} [fastest]; a second number: the same peer in the isolated page`);
  console.error(['model', 'size', ...columns].join(' | '));
  for (const p of points) {
    const row = columns.map((c) => {
      const ms = results.filter((r) => r.model === p.model && r.width === p.width && label(r) === c)
        .map((r) => `${r.msPerIteration.toFixed(0)} [${r.msMin.toFixed(0)}]`);
      return ms.join(' / ') || '-';
    });
    console.error([p.model, `${p.width}x${p.height}`, ...row].join(' | '));
  }
  for (const s of out.firstLossCheck.sizes) {
    console.error(`first losses, ${s.model} ${s.width}x${s.height}: largest difference from ${s.reference} (style ${s.referenceStyle.toExponential(6)}) `
      + `${s.maxDiff.toExponential(2)}${s.ok ? '' : ` — over ${tolerance}`}: `
      + s.peers.map((p) => `${p.peer} ${p.styleDiff.toExponential(1)}`).join(', '));
  }
  if (!out.firstLossCheck.ok) {
    console.error(`the peers' first losses disagree beyond ${tolerance}: they do not compute the same thing`);
    process.exitCode = 1;
  }
} finally {
  await browser.close();
  server.close();
}
