// A film clip as the content: a shot painted frame by frame (the core's film module: each frame
// starts from the last painting carried along the motion). The clip is read with mediabunny
// (demuxing, frame-exact) and WebCodecs (decoding), each painted frame is kept in IndexedDB as it
// is finished, so that a reload goes on where the shot was, and Download writes the painted frames
// back as a video at the clip's frame rate (WebCodecs encoding, mediabunny muxing). The library
// is loaded only when a clip is dropped.

import { $, setStatus, announce, formatTime, saveBlob, showError } from './dom.js';
import { state } from './state.js';
import { keep, kept } from './store.js';

// What a later frame of a shot costs against the first: it starts from the carried painting and
// stops by the finishing rule (BENCHMARKS.md "Film": a 12-frame shot took 270 s where a frame
// painted on its own took 103 s, so each later frame about 15 s, a seventh). Used until a later
// frame has been timed here.
export const LATER_FRAME_SHARE = 1 / 7;
export const LATER_FRAME_SHARE_WORDS = 'a seventh';
/** What the last shot painted here measured, for the next clip's estimate before Start:
 * {backend, threads, model, pixels, firstMs, laterMs} (IndexedDB 'shot-speed'). */
export async function loadShotSpeed() {
  const v = await kept('shot-speed');
  state.shotSpeed = v && Number.isFinite(v.firstMs) && Number.isFinite(v.laterMs) && v.pixels > 0 ? v : null;
}

/** Seconds a shot of `video` at `size` px (at most `maxSide`) painted by `model` is expected to
 * take on this engine, by the last shot measured here, its time scaled by the frames' pixels;
 * null where none was measured on this engine with this model. */
export function shotSeconds(video, size, maxSide, model) {
  const m = state.shotSpeed;
  if (!m || m.backend !== state.backend || m.threads !== state.threads || m.model !== model) return null;
  const { width, height } = frameSize(video.width, video.height, size, maxSide);
  return ((m.firstMs + (video.frames - 1) * m.laterMs) * ((width * height) / m.pixels)) / 1000;
}

// The first frame's progress from which its time so far says its whole time (its first
// iterations compile kernels and fill caches; progress.js waits as long for an image).
const FIRST_ESTIMATE_AFTER = 0.05;

/** @type {Promise<any> | null} */
let library = null;
// Named by a variable, so that tsc (tests/types) does not check the library's own code.
const LIBRARY = './vendor/mediabunny.js';
// (A failed load, e.g. offline before the service worker has it, is tried again with the next clip.)
const mediabunny = () => (library ??= import(LIBRARY).catch((err) => { library = null; throw err; }));

const VIDEO_NAME = /\.(mp4|m4v|mov|webm|mkv|ogv)$/i;

/** Whether a chosen file is a clip (by its type, or its name where the browser gives no type). */
export const isVideo = (file) => Boolean(file) && (file.type.startsWith('video/') || VIDEO_NAME.test(file.name));

/** A clip that cannot be painted, in one sentence: said in the content's drop target. */
export class Refusal extends Error {}

/** The painted frames' size for a clip of `width`×`height` painted at `size` px: the long side
 * `size` (at most the clip's own and the core's limit), the aspect kept. */
export function frameSize(width, height, size, maxSide) {
  const side = Math.min(size, Math.max(width, height), maxSide);
  const scale = side / Math.max(width, height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * What the page needs of a clip before painting it, or a Refusal in one sentence: its frames,
 * frame rate, size and a poster (the first frame, as a PNG blob).
 * @param {File} file @param {{shotFrames: number[]}} bounds
 */
export async function probe(file, bounds) {
  const name = `“${file.name}”`;
  if (typeof VideoDecoder === 'undefined') {
    throw new Refusal('This browser cannot decode video (it has no WebCodecs): a recent Chrome, Edge, Firefox or Safari can, or paint the clip with the command-line tool');
  }
  const mb = await mediabunny();
  const input = new mb.Input({ source: new mb.BlobSource(file), formats: mb.ALL_FORMATS });
  try {
    if (!(await input.canRead())) throw new Refusal(`${name} is not a video this page can read (MP4, WebM, Matroska, QuickTime or Ogg)`);
    const track = await input.getPrimaryVideoTrack();
    if (!track) throw new Refusal(`${name} has no video in it`);
    if (!(await track.canDecode())) throw new Refusal(`This browser cannot decode the video of ${name} (${track.codec ?? 'an unknown codec'}); try another browser, or convert it to MP4 (H.264) or WebM (VP9)`);
    const max = bounds.shotFrames[1];
    // (Counting stops past the limit: a long film is refused without reading all of it.)
    const stats = await track.computePacketStats(max + 1);
    if (!stats.packetCount) throw new Refusal(`${name} has no frames`);
    if (stats.packetCount > max) {
      throw new Refusal(`${name} has more than ${max} frames, the most a shot painted here has: trim it first (ffmpeg -i clip.mp4 -frames:v ${max} short.mp4)`);
    }
    const sink = new mb.CanvasSink(track, { poolSize: 1 });
    const first = await sink.getCanvas(await track.getFirstTimestamp());
    if (!first) throw new Refusal(`${name} has no frames`);
    const poster = await canvasBlob(first.canvas);
    const fps = stats.averagePacketRate > 0 ? stats.averagePacketRate : 24;
    return { frames: stats.packetCount, fps, width: track.displayWidth, height: track.displayHeight, poster };
  } catch (err) {
    if (err instanceof Refusal) throw err;
    throw new Refusal(`${name} could not be read as a video (${err?.message || err})`);
  } finally {
    input.dispose?.();
  }
}

async function canvasBlob(canvas) {
  if (canvas.convertToBlob) return canvas.convertToBlob({ type: 'image/png' });
  return new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
}

/**
 * Every frame of the clip as RGBA at `width`×`height`, in presentation order; null once `wanted`
 * says the frames are no longer wanted (the run was stopped). A clip that fails to decode is a
 * Refusal.
 * @param {File} file @param {number} width @param {number} height @param {(k: number) => boolean} wanted
 * @returns {Promise<ArrayBuffer[] | null>}
 */
export async function decodeFrames(file, width, height, wanted) {
  const mb = await mediabunny();
  const input = new mb.Input({ source: new mb.BlobSource(file), formats: mb.ALL_FORMATS });
  try {
    const track = await input.getPrimaryVideoTrack();
    if (!track) throw new Refusal(`“${file.name}” has no video in it`);
    const sink = new mb.CanvasSink(track, { width, height, fit: 'fill', poolSize: 1 });
    const frames = [];
    for await (const { canvas } of sink.canvases()) {
      const ctx = canvas.getContext('2d', { willReadFrequently: true });
      frames.push(ctx.getImageData(0, 0, width, height).data.buffer);
      if (!wanted(frames.length)) return null;
    }
    if (!frames.length) throw new Refusal(`“${file.name}” has no frames`);
    return frames;
  } catch (err) {
    if (err instanceof Refusal) throw err;
    throw new Refusal(`“${file.name}” could not be decoded (${err?.message || err})`);
  } finally {
    input.dispose?.();
  }
}

/**
 * The painted frames (PNG blobs) as a video at `fps`, with the sound of `clip` over the same
 * span where it has some: WebM (VP9 or VP8) where the browser encodes it, else MP4 (H.264) or
 * WebM (AV1). VP9 first: Firefox 153's H.264 encoder hands over a malformed decoder description
 * (its avcC repeats the parameter sets' first byte), which strict players reject. Frames are
 * stretched to even sides, as 4:2:0 encoders need. The sound is decoded and encoded again in a
 * codec the container takes; where that fails, the video goes without it (`sound` says).
 * @param {Blob[]} pngs @param {number} fps @param {File | null} clip
 * @returns {Promise<{blob: Blob, extension: string, sound: boolean}>}
 */
export async function encodeVideo(pngs, fps, clip) {
  const mb = await mediabunny();
  const firstBitmap = await createImageBitmap(pngs[0]);
  const width = firstBitmap.width + (firstBitmap.width % 2);
  const height = firstBitmap.height + (firstBitmap.height % 2);
  firstBitmap.close();
  const codec = await mb.getFirstEncodableVideoCodec(['vp9', 'vp8', 'avc', 'av1'], { width, height });
  if (!codec) throw new Refusal('This browser cannot encode video; the painted frames are kept, and a browser that can (Chrome, Edge, Firefox, Safari) will write the clip');
  const format = codec === 'avc' ? new mb.Mp4OutputFormat() : new mb.WebMOutputFormat();
  const target = new mb.BufferTarget();
  const output = new mb.Output({ format, target });
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d');
  const source = new mb.CanvasSource(canvas, { codec, quality: mb.QUALITY_HIGH });
  output.addVideoTrack(source, { frameRate: fps });
  const input = clip ? new mb.Input({ source: new mb.BlobSource(clip), formats: mb.ALL_FORMATS }) : null;
  try {
    const sound = await soundOf(mb, input, format, output);
    await output.start();
    for (let k = 0; k < pngs.length; k++) {
      const bitmap = await createImageBitmap(pngs[k]);
      ctx.drawImage(bitmap, 0, 0, width, height);
      bitmap.close();
      await source.add(k / fps, 1 / fps);
    }
    if (sound) {
      // The sound under the frames painted: from the clip's first frame, for as long as they last.
      const start = await (await input.getPrimaryVideoTrack()).getFirstTimestamp();
      for await (const sample of new mb.AudioSampleSink(sound.track).samples(start, start + pngs.length / fps)) {
        if (sample.timestamp >= start) {
          sample.setTimestamp(sample.timestamp - start);
          await sound.source.add(sample);
        }
        sample.close();
      }
    }
    await output.finalize();
    return { blob: new Blob([target.buffer], { type: format.mimeType }), extension: format.fileExtension, sound: Boolean(sound) };
  } finally {
    input?.dispose?.();
  }
}

/** The clip's sound as a track of `output`, in the first codec of `format` this browser encodes;
 * null where the clip has none, or it cannot be decoded or encoded here. */
async function soundOf(mb, input, format, output) {
  try {
    const track = await input?.getPrimaryAudioTrack();
    if (!track || !(await track.canDecode())) return null;
    const codecs = ['opus', 'aac', 'vorbis', 'mp3'].filter((c) => format.getSupportedAudioCodecs().includes(c));
    const codec = await mb.getFirstEncodableAudioCodec(codecs, { numberOfChannels: track.numberOfChannels, sampleRate: track.sampleRate });
    if (!codec) return null;
    const source = new mb.AudioSampleSource({ codec, quality: mb.QUALITY_MEDIUM });
    output.addAudioTrack(source);
    return { track, source };
  } catch {
    return null;
  }
}

// The shot kept in IndexedDB: 'shot' → {key, name, n, fps, done}, rewritten as each frame is
// painted; 'shot-files' → {key, video, style, style2}, the files, written once; and
// 'shot-frame-K' → frame K's painting as a PNG. `key` names the clip, the paintings and the
// settings: a shot started again with the same ones goes on at frame `done`.

/** The key of a shot of the chosen files with these options. */
export function shotKey(files, options, share) {
  const id = (f) => (f ? [f.name, f.size, f.lastModified] : null);
  return JSON.stringify([id(files.content), id(files.style), id(files.style2), options, files.style2 ? share : null]);
}

/** The kept shot and its files, if any (an unreadable entry counts as none). */
export async function keptShot() {
  const s = await kept('shot');
  if (!s || typeof s.key !== 'string') return null;
  const files = await kept('shot-files');
  return files?.key === s.key && files.video instanceof Blob && files.style instanceof Blob ? { ...files, ...s } : null;
}

/** Keep how far a shot is: {key, name, n, fps, done}. */
export const keepShot = (s) => keep('shot', s);

/** Keep a shot's files (the clip and the paintings) under its key. */
export const keepShotFiles = (key, files) => keep('shot-files', { key, video: files.content, style: files.style, style2: files.style2 });

export const keepFrame = (k, png) => keep(`shot-frame-${k}`, png);

export const keptFrame = async (k) => {
  const png = await kept(`shot-frame-${k}`);
  return png instanceof Blob ? png : null;
};

/** The shot's progress line: frame k of n, the frame's iteration, and the time left by the frames
 * painted so far (the first frame, painted from noise, costs more than the rest: it is left out of
 * the estimate once a later frame is done). */
export function shotStatus(record) {
  const s = state.shot;
  const p = typeof record.progress === 'number' ? record.progress
    : state.total ? record.iteration / state.total : 0;
  const parts = [`Frame ${s.index + 1} of ${s.n}`, `iteration ${record.iteration}`];
  // Later frames' time: measured once one is painted, else a share of the first's; while the
  // first paints, its own time is its time so far over its progress (after a few per cent).
  const later = s.times.slice(s.first ? 1 : 0);
  const firstMs = s.times.length ? s.times[0] : p >= FIRST_ESTIMATE_AFTER ? record.elapsedMs / p : null;
  const perFrame = later.length ? later.reduce((a, b) => a + b, 0) / later.length
    : s.first && firstMs != null ? firstMs * LATER_FRAME_SHARE : null;
  if (perFrame != null) {
    const thisFrame = s.index === 0 && s.first && !s.times.length ? firstMs * (1 - p) : perFrame * (1 - Math.min(p, 1));
    parts.push(`about ${formatTime((thisFrame + (s.n - s.index - 1) * perFrame) / 1000)} left`);
  }
  setStatus(parts.join(' · '));
  const overall = (s.index + Math.min(1, Math.max(0, p))) / s.n;
  $('progress-fill').style.width = `${100 * overall}%`;
  const bar = $('progress');
  bar.dataset.iteration = String((s.iterations ?? 0) + record.iteration);
  bar.setAttribute('aria-valuemax', '100');
  bar.setAttribute('aria-valuenow', String(Math.round(100 * overall)));
  bar.setAttribute('aria-valuetext', `frame ${s.index + 1} of ${s.n}`);
}

/** A painted frame: counted at once; its PNG kept in order after the frames before it
 * (`s.saving`: Download and a restart wait for it), and then the record says how far it is. */
export function framePainted(msg) {
  const s = state.shot;
  s.done = msg.index + 1;
  s.iterations += s.lastIteration;
  s.times.push(performance.now() - s.frameStarted);
  announce(`Frame ${msg.index + 1} of ${s.n} painted.`);
  if (s.first && s.times.length >= 2) { // the first frame and a later one, timed here
    const later = s.times.slice(1);
    state.shotSpeed = {
      backend: state.backend, threads: state.threads, model: s.model, pixels: msg.width * msg.height,
      firstMs: s.times[0], laterMs: later.reduce((a, b) => a + b, 0) / later.length,
    };
    keep('shot-speed', state.shotSpeed);
  }
  const record = { ...s.record, done: msg.index + 1 };
  s.saving = s.saving.then(async () => {
    const canvas = new OffscreenCanvas(msg.width, msg.height);
    canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(msg.rgba), msg.width, msg.height), 0, 0);
    const png = await canvas.convertToBlob({ type: 'image/png' });
    s.pngs[msg.index] = png;
    await keepFrame(msg.index, png);
    await keepShot(record); // only once the frame is there: a reload never goes on after a missing one
  }).catch(() => {}); // (storage full or blocked: the frames painted stay in s.pngs for Download)
}

/** The shot's bookkeeping, `done` frames of `n` painted (kept, where `record` is the kept one). */
export function newShot(record, model = null) {
  return {
    model,
    n: record.n, fps: record.fps, index: record.done, done: record.done, pngs: [], times: [],
    frameStarted: performance.now(), iterations: 0, lastIteration: 0, record, first: record.done === 0,
    saving: Promise.resolve(),
  };
}

/** An image run forgets the kept shot: a reload then restores that image, not the clip. */
export const forgetShot = () => keep('shot', null);

/** Download: the painted frames as a video (all of them, or those painted so far). */
export async function downloadShot() {
  const s = state.shot;
  await s.saving; // the frames painted last are being kept
  const pngs = [];
  for (let k = 0; k < s.n; k++) {
    const png = s.pngs[k] ?? (k < s.done ? await keptFrame(k) : null);
    if (!png) break;
    pngs.push(png);
  }
  if (!pngs.length) { showError('No frame of the shot is painted yet.'); return; }
  setStatus(`Writing the video (${pngs.length} frames)…`);
  try {
    const clip = state.video?.file ?? null;
    const { blob, extension, sound } = await encodeVideo(pngs, s.fps, clip);
    const base = state.files.content?.name.replace(/\.[a-z0-9]{2,5}$/i, '') || 'shot';
    saveBlob(blob, `impasto-${base}${extension}`);
    setStatus(`Saved ${pngs.length} of ${s.n} frames as a video${sound ? ', with the clip\'s sound' : ''}.`);
  } catch (err) {
    showError(err instanceof Refusal ? err.message : `The video could not be written (${err?.message || err}).`);
  }
}
