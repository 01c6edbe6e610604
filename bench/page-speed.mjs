// The page's CPU engine timed as it runs, in the page's own worker: ms per iteration (Adam, one
// size, a model) on one thread (the page served without COOP/COEP) and on every core (served
// cross-origin isolated: pkg/threads/), beside the native engine on the same model, size and
// thread counts (`impasto-lab bench`, square images, a process per point), in one run. Written
// as JSON to --out. Run via scripts/bench --page-speed, or directly with both servers up:
//   node bench/page-speed.mjs --isolated URL --plain URL --content SQUARE.png --style S.jpg \
//     [--points teacher:256,distilled:256] [--iterations 6] [--lab target/release/impasto-lab] [--out F]
// The content image must be square: the page paints it at Size × Size, as the lab times.

import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const points = (args.points ?? 'teacher:256,distilled:256').split(',').map((p) => p.split(':'));
const iterations = Number(args.iterations ?? 6);
const lab = args.lab ?? 'target/release/impasto-lab';
const out = args.out ?? 'bench-page-speed.json';
const T0 = Date.now();
const log = (m) => console.error(`[page speed ${((Date.now() - T0) / 1000).toFixed(0)} s] ${m}`);

/** ms per iteration of the page's engine at `origin`: the time between the first iteration drawn
 * and the last, over the iterations between (the first carries the run's setup). */
async function pageSpeed(browser, origin, model, size) {
  const page = await browser.newPage();
  await page.goto(`${origin}/#dev`);
  await page.locator('#engine').filter({ hasText: /^Ready/ }).waitFor({ timeout: 120_000 });
  const engine = (await page.locator('#engine').textContent()).trim();
  await page.getByLabel('Content image').setInputFiles(args.content);
  await page.getByLabel('Style image').setInputFiles(args.style);
  await page.locator('#advanced summary').click();
  await page.getByLabel('High resolution').selectOption('single');
  await page.getByLabel('Model').selectOption(model);
  await page.getByLabel('Optimizer').selectOption('adam');
  await page.getByLabel('Size').fill(String(size));
  await page.getByLabel('Iterations').fill(String(iterations));
  await page.getByLabel('Time limit').fill('');
  const start = page.getByRole('button', { name: 'Start' }).and(page.locator(':enabled'));
  await start.waitFor({ timeout: 60_000 });
  await start.click();
  const seen = [];
  const deadline = Date.now() + 600_000;
  for (let last = 0; last < iterations;) {
    if (Date.now() > deadline) throw new Error(`${model} at ${size} px: ${last} of ${iterations} iterations in 10 min (${await page.locator('#status').textContent()})`);
    const it = Number(await page.getByRole('progressbar').getAttribute('data-iteration'));
    if (it > last) { seen.push([it, performance.now()]); last = it; }
    await page.waitForTimeout(10);
  }
  const [[i0, t0], [i1, t1]] = [seen[0], seen[seen.length - 1]];
  const [width, height] = await page.evaluate(() => [document.getElementById('result').width, document.getElementById('result').height]);
  const threads = Number(engine.match(/\((\d+) threads\)/)?.[1] ?? 1);
  await page.close();
  if (width !== size || height !== size) throw new Error(`the page painted ${width}×${height}, not ${size}²: is the content square?`);
  return { engine, threads, msPerIteration: (t1 - t0) / (i1 - i0) };
}

/** ms per iteration of the native engine on `threads` threads (a child process per point). */
function nativeSpeed(model, size, threads) {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'impasto-lab-bench-')), 'bench.json');
  execFileSync(lab, ['bench', '--backends', 'cpu', '--models', model, '--sizes', String(size),
    '--iterations', String(iterations - 1), '--out', file], { env: { ...process.env, RAYON_NUM_THREADS: String(threads) }, stdio: ['ignore', 'ignore', 'inherit'] });
  return JSON.parse(readFileSync(file, 'utf8'))[0].ms_per_iteration;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-features=WebGPU,Vulkan', '--disable-gpu'],
});
const results = [];
for (const [model, sizeText] of points) {
  const size = Number(sizeText);
  const one = await pageSpeed(browser, args.plain, model, size);
  const all = await pageSpeed(browser, args.isolated, model, size);
  if (all.threads < 2) throw new Error(`the isolated page painted on one thread: ${all.engine}`);
  const native = { one: nativeSpeed(model, size, 1), all: nativeSpeed(model, size, all.threads) };
  const row = {
    model, size, threads: all.threads,
    browser: { one: one.msPerIteration, all: all.msPerIteration, engines: [one.engine, all.engine] },
    native,
    browserSpeedUp: one.msPerIteration / all.msPerIteration,
    nativeSpeedUp: native.one / native.all,
    browserVsNative: { one: one.msPerIteration / native.one, all: all.msPerIteration / native.all },
  };
  log(`${model} ${size}²: browser ${one.msPerIteration.toFixed(0)} ms (1 thread), ${all.msPerIteration.toFixed(0)} ms (${all.threads}); `
    + `native ${native.one.toFixed(0)}, ${native.all.toFixed(0)}; browser/native ${row.browserVsNative.one.toFixed(2)}, ${row.browserVsNative.all.toFixed(2)}`);
  results.push(row);
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), cpus: os.cpus().length, cpu: os.cpus()[0]?.model,
    chromium: browser.version(), iterations, results }, null, 2));
}
await browser.close();
log(`written ${out}`);
