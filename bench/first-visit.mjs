// First visit and second (cached) visit: time from navigation to "Ready" (wasm instantiated,
// WebGPU device up) against scripts/serve.py. Run: node bench/first-visit.mjs (after build-web).
import { chromium } from 'playwright-core';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { spawn } from 'node:child_process';
process.chdir(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'));
const server = spawn('python3', ['scripts/serve.py', '--port', '8767'], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((r) => server.stdout.on('data', (d) => { if (String(d).includes('http://')) r(); }));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const context = await browser.newContext();
const page = await context.newPage();
for (const visit of ['first', 'second (service worker cache)']) {
  const t0 = Date.now();
  if (visit === 'first') await page.goto('http://127.0.0.1:8767/'); else await page.reload();
  await page.getByText(/^Ready/).waitFor({ timeout: 120000 });
  const ready = Date.now() - t0;
  if (visit === 'first') {
    await page.evaluate(() => navigator.serviceWorker.ready);
    await page.waitForTimeout(3000); // the service worker's precache (the model) finishes
  }
  console.log(`${visit} visit: "Ready" ${ready} ms after navigation`);
}
await browser.close(); server.kill();
