// First visit and second (cached) visit against scripts/serve.py (which sends build-web's brotli
// copies to a browser that accepts them, as a static host would): the bytes each visit moves over
// the network per file (as the browser received them, compressed or not, headers excluded), and
// the time from navigation to "Ready" (wasm instantiated, engine up).
// Run: node bench/first-visit.mjs (after scripts/build-web). Prints one JSON object.
import { chromium } from 'playwright-core';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { spawn } from 'node:child_process';
process.chdir(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'));
const server = spawn('python3', ['scripts/serve.py', '--port', '8767'], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((r) => server.stdout.on('data', (d) => { if (String(d).includes('http://')) r(); }));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const context = await browser.newContext();
// Every request of the page, its worker and its service worker.
let transfers = [];
context.on('requestfinished', async (request) => {
  let response, sizes;
  try {
    response = await request.response();
    sizes = await request.sizes();
  } catch {
    return; // its worker closed first (the end of the run)
  }
  transfers.push({
    url: new URL(request.url()).pathname,
    status: response ? response.status() : 0,
    fromServiceWorker: response ? response.fromServiceWorker() : false,
    encoding: response ? (await response.headerValue('content-encoding')) || 'identity' : '',
    bytes: sizes.responseBodySize,
  });
});
const page = await context.newPage();
const result = { date: new Date().toISOString(), visits: [] };
for (const visit of ['first', 'second']) {
  transfers = [];
  const t0 = Date.now();
  if (visit === 'first') await page.goto('http://127.0.0.1:8767/'); else await page.reload();
  await page.getByText(/^Ready/).waitFor({ timeout: 120000 });
  const ready = Date.now() - t0;
  if (visit === 'first') {
    await page.evaluate(() => navigator.serviceWorker.ready);
    await page.waitForTimeout(3000); // the service worker's precache (the model) finishes
  } else {
    await page.waitForTimeout(1000);
  }
  const network = transfers.filter((t) => !t.fromServiceWorker);
  result.visits.push({
    visit,
    readyMs: ready,
    networkBytes: network.reduce((s, t) => s + t.bytes, 0),
    files: network.sort((a, b) => b.bytes - a.bytes),
  });
}
console.log(JSON.stringify(result, null, 1));
await browser.close(); server.kill();
