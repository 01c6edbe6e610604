// A film clip as the content (www/film.js): read with WebCodecs and mediabunny, painted frame by
// frame by the core's shot, kept frame by frame in IndexedDB (a reload goes on where the shot
// was), and downloaded as a video of as many frames. Bad clips are refused in the drop target.
// The clips are made here by ffmpeg (testsrc: moving shapes), a few frames of 96×64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serveApp, server, launch, CPU_FLAGS, ready, openAdvanced, STYLE, STEP_TIMEOUT, log } from './harness.mjs';

serveApp();

const dir = mkdtempSync(path.join(os.tmpdir(), 'impasto-film-'));
const make = (name, args) => {
  const out = path.join(dir, name);
  execFileSync('ffmpeg', ['-v', 'error', '-y', ...args, out]);
  return out;
};
const FRAMES = 6;
// With sound (a tone), which the downloaded video keeps.
const CLIP = make('clip.webm', ['-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=8', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=2',
  '-frames:v', String(FRAMES), '-c:v', 'libvpx', '-b:v', '300k', '-c:a', 'libopus', '-shortest']);
/** Frames in a video, as ffprobe decodes them. */
const frameCount = (file) => Number(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0',
  '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file]).toString().trim());

/** Whether a video has a sound track, as ffprobe reads it. */
const hasSound = (file) => execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'a', '-show_entries', 'stream=codec_type',
  '-of', 'csv=p=0', file]).toString().includes('audio');

/** Record every status line the page shows (window.statuses), to see which frames a run painted. */
const watchStatus = (page) => page.evaluate(() => {
  window.statuses = [];
  new MutationObserver(() => window.statuses.push(document.getElementById('status').textContent))
    .observe(document.getElementById('status'), { childList: true, characterData: true, subtree: true });
});

const framesShown = (page) => page.evaluate(() => [...new Set(window.statuses.map((s) => s.match(/^Frame (\d+) of/)?.[1]).filter(Boolean).map(Number))]);

test('a clip as the content: painted frame by frame, resumed after a reload, downloaded as a video of as many frames', async () => {
  const browser = await launch(CPU_FLAGS);
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  await page.goto(server.origin + '/');
  await ready(page);
  await page.getByLabel('Content image').setInputFiles(CLIP);
  await page.locator('#content-hint').filter({ hasText: `96 × 64), ${FRAMES} frames at 8 fps` }).waitFor({ timeout: 30_000 });
  assert.equal(await page.locator('#content-thumb').isVisible(), true); // the first frame
  await page.getByLabel('Style image').setInputFiles(STYLE);
  await openAdvanced(page);
  await page.getByLabel('Model').selectOption('distilled');
  await page.getByLabel('Size').fill('64');
  // Enough iterations that the reload below lands while frames are still to paint.
  await page.getByLabel('Iterations').fill('40');
  const start = page.getByRole('button', { name: 'Start' }).and(page.locator(':enabled'));
  await start.waitFor({ timeout: 60_000 });
  await watchStatus(page);
  await start.click();
  // Frames appear, each painted at the frames' size; the third begins.
  await page.waitForFunction(() => window.statuses.some((s) => /^Frame 3 of 6/.test(s)), null, { timeout: STEP_TIMEOUT });
  assert.deepEqual(await page.evaluate(() => [document.getElementById('result').width, document.getElementById('result').height]), [64, 43]);
  log('frame 3 of 6 begun: reloading');
  await page.reload();
  await ready(page);
  // The clip and the painting are back in their targets; the notice says where the shot goes on.
  const notice = page.locator('#notice').filter({ hasText: /interrupted after \d of 6 frames/ });
  await notice.waitFor({ timeout: 30_000 });
  const done = Number((await notice.textContent()).match(/after (\d) of 6/)[1]);
  assert.ok(done >= 2 && done < FRAMES, `${done} frames kept`);
  await page.locator('#content-hint').filter({ hasText: `${FRAMES} frames` }).waitFor({ timeout: 30_000 });
  await watchStatus(page);
  await start.waitFor({ timeout: 60_000 });
  await start.click();
  await page.getByText(/^Done: all 6 frames painted/).waitFor({ timeout: STEP_TIMEOUT });
  // Only the frames not kept were painted again.
  const painted = await framesShown(page);
  assert.deepEqual(painted, Array.from({ length: FRAMES - done }, (_, k) => done + 1 + k), `frames painted after the reload: ${painted}`);
  // Download: the whole clip as a video, every frame in it.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download' }).click()]);
  const file = path.join(dir, download.suggestedFilename());
  await download.saveAs(file);
  assert.match(file, /impasto-clip\.(webm|mp4)$/);
  assert.equal(frameCount(file), FRAMES);
  assert.ok(hasSound(file), 'the clip\'s sound is kept');
  await page.locator('#status').filter({ hasText: /^Saved 6 of 6 frames as a video, with the clip's sound\.$/ }).waitFor();
  // After another reload the finished shot is still there to download.
  await page.reload();
  await page.locator('#notice').filter({ hasText: 'is painted (6 frames): Download video saves it' }).waitFor({ timeout: 30_000 });
  // The shot's cost before Start, by what the first shot measured on this engine.
  await page.locator('#start-hint').filter({ hasText: /^Press Start to paint the clip's 6 frames: about (\d+ min )?\d+ s here, by the last clip painted on this device\.$/ })
    .waitFor({ timeout: 30_000 });
  const [again] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download video' }).click()]);
  const second = path.join(dir, `again-${again.suggestedFilename()}`);
  await again.saveAs(second);
  assert.equal(frameCount(second), FRAMES);
});

test('clips that cannot be painted are refused in the drop target, at once, in one sentence', async () => {
  const browser = await launch(CPU_FLAGS);
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(server.origin + '/');
  await ready(page);
  const error = page.locator('#content-error');
  const refused = async (file, pattern) => {
    await page.getByLabel('Content image').setInputFiles(file);
    await error.filter({ hasText: pattern }).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('#content-thumb').isVisible(), false);
  };
  const text = path.join(dir, 'notes.mp4');
  writeFileSync(text, 'not a video, only text\n'.repeat(20));
  await refused(text, /^“notes\.mp4” is not a video this page can read/);
  await refused(make('sound.webm', ['-f', 'lavfi', '-i', 'sine=duration=0.3', '-c:a', 'libopus']), /^“sound\.webm” has no video in it\.$/);
  await refused(make('long.webm', ['-f', 'lavfi', '-i', 'testsrc=size=32x24:rate=30', '-frames:v', '125', '-c:v', 'libvpx']),
    /^“long\.webm” has more than 120 frames, the most a shot painted here has: trim it first/);
  // A browser without WebCodecs says so.
  const old = await browser.newContext();
  await old.addInitScript(() => { delete window.VideoDecoder; });
  const oldPage = await old.newPage();
  await oldPage.goto(server.origin + '/');
  await oldPage.getByLabel('Content image').setInputFiles(CLIP);
  await oldPage.locator('#content-error').filter({ hasText: /^This browser cannot decode video \(it has no WebCodecs\)/ }).waitFor({ timeout: 30_000 });
});
