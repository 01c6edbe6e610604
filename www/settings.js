// The settings form. Every default and preset comes from the core (the worker sends
// `defaultOptions()` and `presets()` once the wasm module is loaded), never from constants here;
// the form shows them, the person changes some, and readOptions() turns the form back into the
// options object the core takes (camelCase: settings::RunOptions and src/web/options.rs).

import { $ } from './dom.js';
import { keep, kept } from './store.js';

let defaults = null; // the core's defaultOptions(), once the engine has sent them
let bounds = null; // the core's bounds(): [min, max] of each typed setting
let presets = []; // the core's presets(): {name, label, description, advanced, options}
let pictureSettings = []; // the core's pictureSettings(): the options that shape the picture
let base = null; // the preset the settings started from: its options no field shows (noiseRatio…) still apply
let saved = null; // what the last visit kept
const touched = new Set(); // fields the person changed: neither defaults nor presets arriving later override them

// Each field and the options it stands for: show(options) → the field's value; read(value, options).
const FIELDS = {
  size: { keys: ['size'], show: (o) => String(o.size), read: (v, o) => { o.size = Number(v); } },
  'time-budget': {
    keys: ['timeBudget'],
    show: (o) => (o.timeBudget == null ? '' : String(Math.round(o.timeBudget / 6) / 10)),
    read: (v, o) => { o.timeBudget = String(v).trim() === '' ? null : Number(v) * 60; },
  },
  iterations: {
    keys: ['iterations'],
    show: (o) => (o.iterations == null ? '' : String(o.iterations)),
    read: (v, o) => { o.iterations = String(v).trim() === '' ? null : Number(v); },
  },
  strength: {
    keys: ['contentWeight', 'styleWeight'],
    show: (o) => String(clampStrength(strengthOf(o))),
    read: (v, o) => Object.assign(o, weightsFor(Number(v), o.styleWeight ?? 1)),
  },
  tv: { keys: ['tvWeight'], show: (o) => String(o.tvWeight), read: (v, o) => { o.tvWeight = Number(v); } },
  init: { keys: ['init'], show: (o) => o.init, read: (v, o) => { o.init = v; } },
  optimizer: { keys: ['optimizer'], show: (o) => o.optimizer, read: (v, o) => { o.optimizer = v; } },
  pooling: { keys: ['pooling'], show: (o) => o.pooling, read: (v, o) => { o.pooling = v; } },
  seed: { keys: ['seed'], show: (o) => String(o.seed), read: (v, o) => { o.seed = Number(v); } },
  colors: { keys: ['originalColors'], show: (o) => (o.originalColors ? 'photo' : 'painting'), read: (v, o) => { o.originalColors = v === 'photo'; } },
  'style-scale': { keys: ['styleScale'], show: (o) => String(o.styleScale), read: (v, o) => { o.styleScale = Number(v); } },
  'scale-mode': {
    keys: ['coarseToFine', 'largest'],
    show: (o) => (o.largest ? 'largest' : o.coarseToFine ? 'ladder' : 'single'),
    read: (v, o) => { o.coarseToFine = v === 'ladder'; o.largest = v === 'largest'; },
  },
};
// The fields whose limits come from the core's bounds(): the option, and the field's unit in the
// option's (the time limit is typed in minutes, the core counts seconds).
const BOUNDED = { size: ['size', 1], iterations: ['iterations', 1], 'style-scale': ['styleScale', 1], 'time-budget': ['timeBudget', 60] };
const limits = (id) => bounds[BOUNDED[id][0]].map((v) => v / BOUNDED[id][1]);

// Fields that are not options of the core: kept across visits all the same.
const OTHER = ['blend', 'model', 'device'];

// ---------- style strength: one slider over the ratio of the style weight to the content weight ----------
// s = log10 of how much more the style counts than in the core's default (Joshi et al. 2017);
// with Adam only the ratio matters, and it must move by decades to show.

const defaultRatio = () => defaults.styleWeight / defaults.contentWeight;
const strengthOf = (o) => Math.round(10 * Math.log10(o.styleWeight / o.contentWeight / defaultRatio())) / 10;
const weightsFor = (s, styleWeight) => ({ styleWeight, contentWeight: styleWeight / (defaultRatio() * 10 ** s) });

function clampStrength(s) {
  const el = $('strength');
  return Math.min(Number(el.max), Math.max(Number(el.min), s));
}

function factor(d) {
  if (d < 3) return `${Number((10 ** d).toPrecision(2))}×`;
  const sup = String(Math.round(d)).replace(/\d/g, (c) => '⁰¹²³⁴⁵⁶⁷⁸⁹'[c]);
  return `10${sup}×`;
}

function showStrength() {
  const s = Number($('strength').value);
  const text = s === 0 ? 'The usual balance of photo and painting'
    : s > 0 ? `${factor(s)} more painting than usual` : `${factor(-s)} more photo than usual`;
  $('strength-out').textContent = text;
  $('strength').setAttribute('aria-valuetext', text);
}

// ---------- presets ----------

const presetNamed = (name) => presets.find((p) => p.name === name);
// The fields any preset sets.
const presetFields = () => Object.keys(FIELDS).filter((id) => presets.some((p) => FIELDS[id].keys.some((k) => k in p.options)));
// Changing a field by hand leaves the preset where the field sets one of the picture's settings
// (the core decides which: settings::PictureSetting); sizes, counts, the seed and the colours keep
// it, so that the default preset's full-quality ladder still applies (ladder::LadderRecipe::applies).
const shapesPicture = (id) => FIELDS[id]?.keys.some((k) => pictureSettings.includes(k)) ?? false;

/** The lists offer exactly the core's choices (a test checks that the page names them all): a
 * choice the page has no words for is shown by its name; one the core no longer takes goes. */
function offerChoices(choices) {
  for (const id of ['model', 'optimizer', 'init', 'pooling']) {
    const el = $(id);
    for (const o of [...el.options]) if (!choices[id].includes(o.value)) o.remove();
    for (const value of choices[id]) if (![...el.options].some((o) => o.value === value)) el.add(new Option(value, value));
  }
}

function setField(id, value) {
  const el = $(id);
  // A value the core knows but this page's list does not (a new optimizer…) is shown as it is.
  if (el.tagName === 'SELECT' && ![...el.options].some((o) => o.value === value)) el.add(new Option(value, value));
  el.value = value;
}

/** Set the fields a preset stands for (the core's defaults where the preset says nothing). */
function applyPreset(name) {
  const p = presetNamed(name);
  if (!p) return;
  const values = { ...defaults, ...p.options };
  for (const id of presetFields()) {
    if (FIELDS[id].keys.every((k) => k in values)) setField(id, FIELDS[id].show(values));
    touched.delete(id);
  }
  base = name;
  $('preset').value = name;
  showStrength();
  showPresetHelp();
}

function showPresetHelp() {
  const p = presetNamed($('preset').value);
  $('preset-help').textContent = p ? p.description : 'Your own settings.';
}

function renderPresets() {
  const select = $('preset');
  const options = presets.filter((p) => !p.advanced).map((p) => new Option(p.label, p.name));
  // Advanced presets are chosen in Advanced (below); the select can still show one as chosen.
  for (const p of presets.filter((q) => q.advanced)) {
    const o = new Option(p.label, p.name);
    o.hidden = true;
    options.push(o);
  }
  select.replaceChildren(...options, new Option('Custom', 'custom'));
  const classic = presets.filter((p) => p.advanced);
  $('classic-field').hidden = !classic.length;
  $('classic-presets').replaceChildren(...classic.map((p) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'secondary';
    b.textContent = p.label;
    b.title = p.description;
    b.addEventListener('click', () => { applyPreset(p.name); save(); });
    return b;
  }));
  // The strength slider spans every preset's balance.
  const all = [0, ...presets.filter((p) => 'contentWeight' in p.options).map((p) => strengthOf({ ...defaults, ...p.options }))];
  $('strength').min = String(Math.min(-3, Math.floor(Math.min(...all))));
  $('strength').max = String(Math.max(3, Math.ceil(Math.max(...all))));
}

/** The preset a first visit starts from: the one the core marks as its default, else the one
 * whose every option is the core's default. */
function defaultPreset() {
  const marked = presets.find((p) => p.default);
  if (marked) return marked.name;
  const same = (a, b) => a === b || (typeof a === 'number' && typeof b === 'number' && Math.abs(a - b) <= 1e-6 * Math.abs(b));
  return presets.find((p) => Object.entries(p.options).every(([k, v]) => same(v, defaults[k])))?.name ?? null;
}

// ---------- from the engine, and from the last visit ----------

/** The core's presets and defaults arrived: fill the form, then what the person kept. */
export function configure(config) {
  presets = config.presets;
  defaults = config.defaults;
  bounds = config.bounds;
  pictureSettings = config.pictureSettings;
  for (const id of Object.keys(BOUNDED)) [$(id).min, $(id).max] = limits(id).map(String);
  offerChoices(config.choices);
  renderPresets();
  for (const [id, f] of Object.entries(FIELDS)) {
    if (!touched.has(id) && f.keys.every((k) => k in defaults)) setField(id, f.show(defaults));
  }
  base = defaultPreset();
  $('preset').value = base ?? 'custom';
  restoreSaved();
  showStrength();
  showPresetHelp();
  configured(bounds);
}

export async function loadSaved() {
  saved = (await kept('settings')) || null;
  // The engine-free fields can be set at once (Compute decides which engine starts).
  if (saved) for (const id of OTHER) if (typeof fieldsOf(saved)[id] === 'string') setField(id, fieldsOf(saved)[id]);
  showStrength();
}

// Version 2 keeps only what the person chose (a preset, fields changed by hand), so a changed
// default reaches everyone who did not change that setting. Version 1 kept every field.
const fieldsOf = (s) => (s.version === 2 ? s.fields : s);

function restoreSaved() {
  if (!saved) return;
  const name = saved.version === 2 ? saved.base : null;
  if (name && presetNamed(name)) applyPreset(name);
  const fields = fieldsOf(saved);
  for (const [id, value] of Object.entries(fields)) {
    if (typeof value !== 'string' || !$(id) || id === 'preset') continue;
    setField(id, value);
    touched.add(id);
  }
  const preset = fields.preset;
  $('preset').value = preset && (preset === 'custom' || presetNamed(preset)) ? preset : base ?? 'custom';
}

function save() {
  const fields = { preset: $('preset').value };
  for (const id of touched) fields[id] = $(id).value;
  keep('settings', { version: 2, base, fields });
}

export function wireSettings(onDeviceChange) {
  for (const id of [...Object.keys(FIELDS), ...OTHER]) {
    const mark = () => {
      touched.add(id);
      if (shapesPicture(id) && $('preset').value !== 'custom') {
        $('preset').value = 'custom';
        showPresetHelp();
      }
      if (id === 'strength') showStrength();
      save();
    };
    $(id).addEventListener('input', mark);
    $(id).addEventListener('change', mark);
  }
  $('preset').addEventListener('change', () => {
    if ($('preset').value !== 'custom') applyPreset($('preset').value);
    showPresetHelp();
    save();
  });
  $('device').addEventListener('change', onDeviceChange);
}

// ---------- reading the form ----------

/** The options of a run: the core's defaults, the preset's, then every field. Throws a sentence. */
export function readOptions() {
  const o = { ...defaults, ...(presetNamed(base)?.options || {}) };
  for (const [id, f] of Object.entries(FIELDS)) f.read($(id).value, o);
  const within = (id, v) => v >= bounds[BOUNDED[id][0]][0] && v <= bounds[BOUNDED[id][0]][1];
  const [sizeLo, sizeHi] = limits('size');
  if (!Number.isInteger(o.size) || !within('size', o.size)) throw new Error(`Size must be a whole number of pixels between ${sizeLo} and ${sizeHi}.`);
  if (o.iterations !== null && (!Number.isInteger(o.iterations) || !within('iterations', o.iterations))) {
    const [lo, hi] = limits('iterations');
    throw new Error(`Iterations must be empty (automatic) or a whole number between ${lo} and ${hi}.`);
  }
  if (o.timeBudget !== null && !within('time-budget', o.timeBudget)) {
    const [lo, hi] = bounds.timeBudget;
    throw new Error(`The time limit must be empty (none) or between ${lo} seconds and ${hi / 60} minutes.`);
  }
  // A size or an iteration count chosen by hand is kept: the time limit then only estimates.
  o.sizeFixed = touched.has('size') || touched.has('iterations');
  if (!(o.tvWeight >= 0)) throw new Error('The smoothing weight must be a number ≥ 0.');
  if (!Number.isInteger(o.seed) || o.seed < 0) throw new Error('The seed must be a whole number ≥ 0.');
  if (!within('style-scale', o.styleScale)) throw new Error(`The brush-stroke scale (style scale) must be between ${limits('style-scale').join(' and ')}.`);
  // Which network paints, and the preset the settings come from (null: changed by hand): with
  // the full-quality network, the default preset and coarse to fine, the core paints the
  // smaller sizes with the distilled network and the last with VGG16 (multiscale::TEACHER_LADDER).
  o.model = modelName();
  o.preset = $('preset').value === 'custom' ? null : $('preset').value;
  return o;
}

/** The core's bounds() (the shot's limits among them), once the engine has sent them. */
export const coreBounds = () => bounds;
let configured;
/** Resolves to the core's bounds() once the engine has sent them. */
export const boundsReady = new Promise((resolve) => { configured = resolve; });
export const modelName = () => $('model').value;
export const deviceChoice = () => $('device').value;
export const blendShare = () => Number($('blend').value) / 100;
