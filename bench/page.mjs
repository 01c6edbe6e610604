// The page's default run, timed as a visitor gets it: headless Chromium on the CPU engine (no
// WebGPU), the default settings (the Time limit included), one pair after another. For each:
// the time to the first iteration and to "Done", what the time limit chose, and the finished
// painting judged by the neutral judge against CS20's recipe painted by the native CLI at the
// same final size (`impasto stylize --preset cs20 --model teacher --size N`, `impasto eval
// --judge neutral`). Written as JSON to --out; the paintings beside it.
//
//   node bench/page.mjs --origin http://127.0.0.1:8080 --pairs photo.jpg:painting.jpg,… \
//     [--time-limit MIN] [--cli target/release/impasto] [--out bench-page.json]

import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const origin = args.origin ?? 'http://127.0.0.1:8080';
const out = args.out ?? 'bench-page.json';
const cli = args.cli ?? 'target/release/impasto';
const pairs = (args.pairs ?? 'www/samples/chelsea-the-cat.jpg:www/samples/van-gogh-village-street-in-auvers.jpg')
  .split(',').map((p) => p.split(':'));
const dir = out.replace(/\.json$/, '') + '-images';
mkdirSync(dir, { recursive: true });
const T0 = Date.now();
const log = (m) => console.error(`[page bench ${((Date.now() - T0) / 1000).toFixed(0)} s] ${m}`);
const name = (file) => path.basename(file).replace(/\.[a-z]+$/i, '');

const neutral = (content, style, painting) => JSON.parse(execFileSync(cli,
  ['eval', '--judge', 'neutral', '--backend', 'cpu', content, style, painting], { encoding: 'utf8' }));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-features=WebGPU,Vulkan', '--disable-gpu'],
});
const results = [];
for (const [content, style] of pairs) {
  const label = `${name(content)} + ${name(style)}`;
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${origin}/#dev`);
  await page.locator('#engine').filter({ hasText: /^Ready/ }).waitFor({ timeout: 300_000 });
  const engine = (await page.locator('#engine').textContent()).trim();
  await page.getByLabel('Content image').setInputFiles(content);
  await page.getByLabel('Style image').setInputFiles(style);
  if (args['time-limit'] !== undefined) {
    await page.locator('#advanced summary').click();
    await page.getByLabel('Time limit').fill(args['time-limit']);
  }
  const start = page.getByRole('button', { name: 'Start' }).and(page.locator(':enabled'));
  await start.waitFor({ timeout: 120_000 });
  const t0 = Date.now();
  await start.click();
  const bar = page.getByRole('progressbar');
  await page.waitForFunction(() => Number(document.querySelector('[role=progressbar]')?.dataset.iteration) >= 1, null, { timeout: 600_000, polling: 100 });
  const first = (Date.now() - t0) / 1000;
  log(`${label}: first iteration after ${first.toFixed(1)} s`);
  await page.locator('#status').filter({ hasText: /^(Done|Stopped)/ }).waitFor({ timeout: 3_600_000 });
  const done = (Date.now() - t0) / 1000;
  const status = (await page.locator('#status').textContent()).trim();
  const notice = (await page.locator('#notice').isVisible()) ? (await page.locator('#notice').textContent()).trim() : null;
  const iterations = Number(await bar.getAttribute('data-iteration'));
  const png = await page.evaluate(() => document.getElementById('result').toDataURL('image/png'));
  const painting = path.join(dir, `${name(content)}+${name(style)}-page.png`);
  writeFileSync(painting, Buffer.from(png.split(',')[1], 'base64'));
  const { width, height } = await page.evaluate(() => ({ width: document.getElementById('result').width, height: document.getElementById('result').height }));
  await context.close();
  log(`${label}: ${status} after ${done.toFixed(0)} s at ${width}×${height}; ${notice ?? 'no plan line'}`);

  // CS20's recipe at the same final size, by the native CLI, and both judged.
  const cs20 = path.join(dir, `${name(content)}+${name(style)}-cs20-${Math.max(width, height)}.png`);
  const c0 = Date.now();
  execFileSync(cli, ['stylize', content, style, '-o', cs20, '--preset', 'cs20', '--model', 'teacher',
    '--size', String(Math.max(width, height)), '--backend', 'cpu', '--quiet']);
  const cs20Seconds = (Date.now() - c0) / 1000;
  const judged = { page: neutral(content, style, painting), cs20: neutral(content, style, cs20) };
  const row = {
    pair: label, engine, width, height, status, notice, iterations,
    firstIterationSeconds: first, doneSeconds: done, cs20NativeSeconds: cs20Seconds,
    styleVsCs20: judged.page.style / judged.cs20.style, contentVsCs20: judged.page.content / judged.cs20.content,
    judged, painting, cs20,
  };
  log(`${label}: style ${row.styleVsCs20.toFixed(2)}×, content ${row.contentVsCs20.toFixed(3)}× CS20's`);
  results.push(row);
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), origin, timeLimitMinutes: args['time-limit'] ?? 'default', results }, null, 2));
}
await browser.close();
log(`written ${out}`);
