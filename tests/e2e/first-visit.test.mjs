// The page as a first-time visitor meets it, on a phone and on a desktop: the first
// screen, Try an example, errors in place, honest status, keyboard and screen readers. Also
// that the page's initial settings are the core's defaults. Screenshots of the first
// screen and of a run at both widths go to target/screenshots/ for anyone to look at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  ROOT, STYLE, CONTENT, STEP_TIMEOUT, GPU_FLAGS, CPU_FLAGS, server, log, serveApp, launch, ready, iteration,
  waitIteration, openAdvanced, configure,
} from './harness.mjs';

serveApp();

const SHOTS = path.join(ROOT, 'target', 'screenshots');
mkdirSync(SHOTS, { recursive: true });
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1366, height: 900 };

/** Every control a person can reach that is on the page and shown (hidden ones excluded). */
function visibleControls(page) {
  return page.evaluate(() => [...document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex="-1"])')]
    .filter((el) => el.checkVisibility({ checkOpacity: false, checkVisibilityCSS: true }) && el.getClientRects().length)
    .map((el) => el.getAttribute('aria-label') || el.labels?.[0]?.textContent.trim() || el.textContent.trim()));
}

async function openPage(browser, viewport, hash = '#dev') {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  await page.goto(`${server.origin}/${hash}`);
  await ready(page);
  return page;
}

/** WCAG contrast of two CSS colours (rgb()/rgba(), opaque). */
function contrast(a, b) {
  const lum = (css) => {
    const [r, g, bl] = css.match(/[\d.]+/g).slice(0, 3).map((v) => Number(v) / 255)
      .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

test('the first screen, on a phone and a desktop: two drop targets and Start in view, nothing overflows, few controls', async () => {
  const browser = await launch(CPU_FLAGS);
  for (const viewport of [PHONE, DESKTOP, { width: 320, height: 640 }]) {
    const page = await openPage(browser, viewport);
    const size = `${viewport.width}x${viewport.height}`;
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${size}: the page is ${overflow} px wider than the screen`);
    if (viewport.width === 320) continue; // the smallest width: only that nothing overflows
    for (const [what, locator] of [['the content target', page.locator('#drop-content')], ['the style target', page.locator('#drop-style')],
      ['Start', page.getByRole('button', { name: 'Start' })], ['Try an example', page.getByRole('button', { name: 'Try an example' })]]) {
      const box = await locator.boundingBox();
      assert.ok(box && box.y >= 0 && box.y + box.height <= viewport.height && box.x + box.width <= viewport.width,
        `${size}: ${what} is not inside the first screen: ${JSON.stringify(box)}`);
    }
    const controls = await visibleControls(page);
    assert.ok(controls.length <= 8, `${size}: ${controls.length} controls before a run: ${controls.join(' | ')}`);
    assert.deepEqual(controls, ['Content image', 'Style image', 'Start', 'Try an example', 'Preset', 'Style strength', 'Colours', 'Advanced']);
    assert.equal(await page.locator('#stage').isVisible(), false, 'no empty result box before a run');
    await page.screenshot({ path: path.join(SHOTS, `first-screen-${size}.png`) });
    log(`first screen ${size}: ${controls.length} controls; screenshot in target/screenshots/first-screen-${size}.png`);
    await page.context().close();
  }
});

test('Try an example paints at once with no other input; the painting takes the main area and is described', async () => {
  const browser = await launch(CPU_FLAGS);
  const times = [];
  for (const viewport of [DESKTOP, PHONE]) {
    const page = await openPage(browser, viewport);
    const size = `${viewport.width}x${viewport.height}`;
    // Click to the first iteration on screen, timed in the page.
    await page.evaluate(() => {
      document.getElementById('example').addEventListener('click', () => { window.clickedAt = performance.now(); }, { capture: true });
      new MutationObserver((_, observer) => {
        if (Number(document.getElementById('progress').dataset.iteration) >= 1) {
          window.firstFrameAt = performance.now();
          observer.disconnect();
        }
      }).observe(document.getElementById('progress'), { attributes: true });
    });
    await page.getByRole('button', { name: 'Try an example' }).click();
    await page.waitForFunction(() => window.firstFrameAt, null, { timeout: STEP_TIMEOUT });
    const ms = await page.evaluate(() => window.firstFrameAt - window.clickedAt);
    times.push(ms);
    log(`${size}: Try an example → first iteration on screen in ${ms.toFixed(0)} ms (CPU engine)`);
    await waitIteration(page, 12); // a few seconds in: what the screenshot shows
    assert.equal(await page.getByRole('button', { name: 'Start' }).isDisabled(), true, 'Start is disabled while a run goes');
    const result = page.getByRole('img', { name: /^Result: .* painted in the style of .*, iteration \d+$/ });
    await result.waitFor({ state: 'visible' });
    const box = await page.locator('#result-wrap').boundingBox();
    assert.ok(box.y >= -1 && box.y < viewport.height / 2, `${size}: the painting is scrolled into view (top at ${box.y})`);
    assert.ok(box.width >= Math.min(viewport.width - 40, 500), `${size}: the painting is large (${box.width} px wide)`);
    assert.match(await page.locator('#content-thumb').getAttribute('alt'), /^Content image: Chelsea the cat/);
    await page.screenshot({ path: path.join(SHOTS, `example-running-${size}.png`) });
    // Stop says so at once, even while an iteration is being computed.
    const said = await page.evaluate(() => { document.getElementById('stop').click(); return document.getElementById('status').textContent; });
    assert.match(said, /^(Stopping…|Stopped)/);
    await page.locator('#status').filter({ hasText: /^Stopped at iteration/ }).waitFor({ timeout: STEP_TIMEOUT });
    await page.context().close();
  }
  console.log(`Try an example → first iteration on screen: ${times.map((t) => `${(t / 1000).toFixed(2)} s`).join(', ')} (CPU engine, headless Chromium)`);
  assert.ok(Math.min(...times) <= 5_000, `first iteration after ${times} ms (aim: 5 s)`);
});

test('a text file named .jpg as the content: its sentence inside the content target before Start, the style image stays', async () => {
  const browser = await launch(CPU_FLAGS);
  const page = await openPage(browser, PHONE);
  await page.getByLabel('Style image').setInputFiles(STYLE);
  await page.locator('#style-thumb').waitFor({ state: 'visible' });
  await page.getByLabel('Content image').setInputFiles({ name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('just text, not a picture') });
  const error = page.locator('#drop-content').getByRole('alert');
  await error.waitFor({ timeout: 30_000 });
  assert.match(await error.textContent(), /^The content image is not a supported image .*looks like text\.$/);
  assert.equal(await page.locator('#style-thumb').isVisible(), true, 'the style image stays');
  const start = page.getByRole('button', { name: 'Start' });
  assert.equal(await start.isDisabled(), true);
  assert.equal(await page.locator('#start-hint').textContent(), 'Add a content image to start.', 'a disabled Start says what is missing');
  assert.equal(await page.locator('#status').isVisible(), false, 'nothing ran, nothing claims to have stopped');
  // A good file replaces the sentence and Start can go.
  await page.getByLabel('Content image').setInputFiles(CONTENT);
  await start.and(page.locator(':enabled')).waitFor({ timeout: 30_000 });
  assert.equal(await error.isVisible(), false);
});

test('the initial settings are the core\'s defaults and its default preset', async (t) => {
  const browser = await launch(CPU_FLAGS);
  const page = await openPage(browser, DESKTOP);
  const core = await page.evaluate(async () => {
    const m = await import('/pkg/impasto.js');
    await m.default();
    if (!m.defaultOptions) return null;
    const models = m.models();
    // Every model the core names is served where the page fetches it.
    const served = await Promise.all(models.list.map(async (x) => (await fetch(`models/${x.file}`, { method: 'HEAD' })).status));
    return { defaults: m.defaultOptions(), presets: m.presets(), bounds: m.bounds(), choices: m.choices(), models, served };
  });
  if (!core) { t.skip('this wasm build has no defaultOptions()'); return; }
  const { defaults, presets, bounds, choices, models, served } = core;
  // The models by the core's data: each served, each choice's loads and the finish among them.
  const names = models.list.map((x) => x.name);
  assert.deepEqual(served, models.list.map(() => 200), 'every model file is served');
  assert.deepEqual(Object.keys(models.loads).sort(), [...choices.model].sort());
  for (const loads of Object.values(models.loads)) for (const n of loads) assert.ok(names.includes(n), n);
  assert.ok(names.includes(models.finish));
  await openAdvanced(page);
  const value = (label) => page.getByLabel(label, { exact: true }).inputValue();
  assert.equal(Number(await value('Size')), defaults.size);
  assert.equal(Number(await value('Time limit')) * 60, defaults.timeBudget, 'the time limit, in minutes');
  // Every typed setting's limits are the core's (the time limit's in minutes).
  for (const [label, key, unit] of [['Size', 'size', 1], ['Iterations', 'iterations', 1],
    ['Brush strokes (style scale)', 'styleScale', 1], ['Time limit', 'timeBudget', 60]]) {
    const field = page.getByLabel(label, { exact: true });
    const limits = [Number(await field.getAttribute('min')), Number(await field.getAttribute('max'))];
    assert.deepEqual(limits, bounds[key].map((v) => v / unit), label);
  }
  // Every list offers the core's choices, in its order, each in words (not by its bare name).
  for (const [label, key] of [['Model', 'model'], ['Optimizer', 'optimizer'], ['Start image', 'init'], ['Pooling', 'pooling']]) {
    const offered = await page.getByLabel(label, { exact: true }).evaluate((el) => [...el.options].map((o) => [o.value, o.text]));
    assert.deepEqual(offered.map(([v]) => v), choices[key], label);
    for (const [v, text] of offered) assert.notEqual(text, v, `${label}: ${v} has words`);
  }
  assert.deepEqual(presets.map((p) => p.name), choices.preset);
  assert.equal(await value('Pooling'), defaults.pooling);
  assert.equal(await value('Iterations'), defaults.iterations == null ? '' : String(defaults.iterations));
  assert.equal(Number(await value('Smoothing (TV weight)')), defaults.tvWeight);
  assert.equal(await value('Start image'), defaults.init);
  assert.equal(await value('Optimizer'), defaults.optimizer);
  assert.equal(Number(await value('Seed')), defaults.seed);
  assert.equal(await value('Colours'), defaults.originalColors ? 'photo' : 'painting');
  assert.equal(Number(await value('Brush strokes (style scale)')), defaults.styleScale);
  assert.equal(await value('High resolution'), defaults.largest ? 'largest' : defaults.coarseToFine ? 'ladder' : 'single');
  assert.equal(Number(await value('Style strength')), 0, 'the core\'s balance of content and style');
  assert.equal(await value('Model'), defaults.model);
  assert.equal(defaults.preset, presets.find((p) => p.default)?.name, 'the default options come from the default preset');
  const preset = presets.find((p) => p.default) ?? presets.find((p) => Object.entries(p.options).every(([k, v]) => defaults[k] === v));
  assert.ok(preset, 'a preset is the default');
  assert.equal(await value('Preset'), preset.name);
  assert.equal(await page.locator('#preset-help').textContent(), preset.description);
  // Advanced presets are offered in Advanced, not in the first screen's list.
  for (const p of presets.filter((q) => q.advanced)) {
    await page.locator('#classic-presets').getByRole('button', { name: p.label }).waitFor();
  }
  // The classic recipe paints one size, as CS20 does: its button turns High resolution off.
  const classic = presets.find((p) => p.name === 'cs20');
  assert.equal(classic.options.coarseToFine, false);
  await page.locator('#classic-presets').getByRole('button', { name: classic.label }).click();
  assert.equal(await value('High resolution'), 'single');
  assert.equal(await value('Iterations'), String(classic.options.iterations));
});

test('keyboard and contrast: Tab goes images, Start, then settings; focus ring and drop borders ≥ 3:1', async () => {
  const browser = await launch(CPU_FLAGS);
  const page = await openPage(browser, DESKTOP);
  await page.getByLabel('Content image').setInputFiles(CONTENT);
  await page.getByLabel('Style image').setInputFiles(STYLE);
  await page.getByRole('button', { name: 'Start' }).and(page.locator(':enabled')).waitFor({ timeout: 30_000 });
  await page.evaluate(() => document.activeElement?.blur());
  const order = [];
  for (let k = 0; k < 8; k++) {
    await page.keyboard.press('Tab');
    order.push(await page.evaluate(() => document.activeElement.id));
  }
  assert.deepEqual(order, ['content-file', 'style-file', 'start', 'example', 'preset', 'strength', 'colors', 'advanced-summary']);
  const colours = await page.evaluate(() => {
    const start = document.getElementById('start');
    start.focus({ focusVisible: true });
    const css = (el, p) => getComputedStyle(el)[p];
    return {
      page: css(document.body, 'backgroundColor') === 'rgba(0, 0, 0, 0)' ? css(document.documentElement, 'backgroundColor') : css(document.body, 'backgroundColor'),
      ring: css(start, 'outlineColor'), ringStyle: css(start, 'outlineStyle'),
      drop: css(document.getElementById('drop-content'), 'borderTopColor'),
      dropInside: css(document.getElementById('drop-content'), 'backgroundColor'),
    };
  });
  assert.equal(colours.ringStyle, 'solid', 'a keyboard focus ring is drawn');
  assert.ok(contrast(colours.ring, colours.page) >= 3, `focus ring ${colours.ring} on ${colours.page}`);
  assert.ok(contrast(colours.drop, colours.page) >= 3, `drop border ${colours.drop} on ${colours.page}`);
  assert.ok(contrast(colours.drop, colours.dropInside) >= 3, `drop border ${colours.drop} on ${colours.dropInside}`);
});

test('honest status: announced at start, every 10 % and the end only; time left only after warm-up', async () => {
  const browser = await launch(CPU_FLAGS);
  const page = await openPage(browser, DESKTOP);
  assert.equal(await page.locator('#status').getAttribute('aria-live'), null, 'the per-iteration line is not live');
  await configure(page, { size: 32, iterations: 20 });
  await page.evaluate(() => {
    window.spoken = [];
    window.statuses = [];
    new MutationObserver(() => window.spoken.push(document.getElementById('announce').textContent))
      .observe(document.getElementById('announce'), { childList: true, characterData: true, subtree: true });
    new MutationObserver(() => window.statuses.push(document.getElementById('status').textContent))
      .observe(document.getElementById('status'), { childList: true, characterData: true, subtree: true });
  });
  await page.getByRole('button', { name: 'Start' }).click();
  await page.getByText(/^Done: 20 iterations/).waitFor({ timeout: STEP_TIMEOUT });
  const { spoken, statuses } = await page.evaluate(() => ({ spoken: window.spoken, statuses: window.statuses }));
  log(`announced: ${spoken.join(' | ')}`);
  assert.equal(spoken[0], 'Painting started.');
  assert.equal(spoken.at(-1), 'Painting finished after 20 iterations.');
  assert.ok(spoken.length <= 11, `${spoken.length} announcements for 20 iterations`);
  const early = statuses.filter((s) => /^Iteration [1-4] \//.test(s));
  assert.ok(early.length && early.every((s) => !s.includes('left')), `no time left during warm-up: ${early.join(' | ')}`);
  assert.ok(statuses.some((s) => /^Iteration \d+ \/ 20 .* left$/.test(s)), 'time left once measured');
  assert.equal(await iteration(page), 20);
});

test('a software WebGPU adapter is named as such, and Automatic takes the faster CPU engine', async () => {
  const browser = await launch(GPU_FLAGS);
  const page = await openPage(browser, DESKTOP);
  const adapter = await page.evaluate(async () => {
    const a = await navigator.gpu?.requestAdapter();
    return a ? { fallback: Boolean(a.info?.isFallbackAdapter ?? a.isFallbackAdapter), name: `${a.info?.vendor} ${a.info?.architecture} ${a.info?.description}` } : null;
  });
  log(`WebGPU adapter: ${JSON.stringify(adapter)}`);
  const engine = await page.locator('#engine').textContent();
  if (adapter && (adapter.fallback || /swiftshader/i.test(adapter.name))) {
    assert.match(engine, /running on the CPU \((one thread|\d+ threads)\): this browser's WebGPU is software GPU emulation/, engine);
  } else {
    assert.match(engine, /running on (your GPU|the CPU)/, engine);
  }
});
