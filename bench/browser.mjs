// Impasto's WebGPU iteration against its TF.js peer (WebGPU and WebGL backends), in one headless
// Chromium session, same sizes, same weights (issue 5). Serves the repository's bench/, pkg/ and
// models/ on 127.0.0.1, opens bench/browser.html, prints the result as JSON (stdout).
// Run via scripts/bench --browser [--sizes 64,128] [--iterations 3] [--model teacher|distilled]
//   [--peers impasto,tfjs-webgpu,tfjs-webgl,impasto-step-rgba,impasto-frame,impasto-direct,impasto-gemm] [--out FILE].
import { chromium } from 'playwright-core';
import { fileURLToPath } from 'node:url';
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) =>
  (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
const query = new URLSearchParams({
  sizes: args.sizes || '64',
  iterations: args.iterations || '3',
  model: args.model || 'teacher',
  peers: args.peers || 'impasto,tfjs-webgpu,tfjs-webgl,impasto-step-rgba,impasto-frame',
});
for (const f of ['pkg/impasto_bg.wasm', `models/vgg16-${query.get('model')}.bpk`, 'bench/tfjs/node_modules/@tensorflow/tfjs']) {
  if (!existsSync(path.join(ROOT, f))) throw new Error(`${f} is missing: run scripts/bench --browser`);
}

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.bpk': 'application/octet-stream' };
const server = http.createServer((req, res) => {
  const url = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  const file = path.join(ROOT, path.normalize(url));
  const allowed = ['bench/', 'pkg/', 'models/'].some((d) => file.startsWith(path.join(ROOT, d)));
  if (!allowed || !existsSync(file)) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream' });
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
  const page = await browser.newPage();
  page.on('console', (m) => console.error(`[page] ${m.text()}`));
  page.on('pageerror', (e) => console.error(`[page error] ${e}`));
  await page.goto(`${origin}/bench/browser.html?${query}`);
  const result = await page.evaluate(() => window.benchResult, null, { timeout: 0 });
  if (result.error) throw new Error(result.error);
  const out = {
    date: new Date().toISOString(),
    chromium: browser.version(),
    command: `node bench/browser.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    ...result,
  };
  // Impasto / TF.js per size and TF.js backend; the page's two ways of showing an iteration.
  out.ratios = [];
  for (const r of result.results.filter((r) => r.peer === 'impasto')) {
    for (const t of result.results.filter((t) => t.peer.startsWith('tfjs') && t.width === r.width)) {
      out.ratios.push({ width: r.width, height: r.height, versus: t.peer, impastoOverPeer: r.msPerIteration / t.msPerIteration,
        firstStyleLossRatio: r.first.style / t.first.style });
    }
  }
  for (const f of result.results.filter((r) => r.peer === 'impasto-frame')) {
    const two = result.results.find((t) => t.peer === 'impasto-step-rgba' && t.width === f.width);
    if (two) out.ratios.push({ width: f.width, height: f.height, versus: 'impasto-step-rgba', frameOverStepRgba: f.msPerIteration / two.msPerIteration });
  }
  for (const g of result.results.filter((r) => r.peer === 'impasto-gemm')) {
    const d = result.results.find((t) => t.peer === 'impasto-direct' && t.width === g.width);
    if (d) out.ratios.push({ width: g.width, height: g.height, versus: 'impasto-direct', gemmOverDirect: g.msPerIteration / d.msPerIteration });
  }
  const json = JSON.stringify(out, null, 1);
  if (args.out) writeFileSync(args.out, json);
  console.log(json);
} finally {
  await browser.close();
  server.close();
}
