// Times both crates' products in Node's V8 (the engine of Chromium's pages) on the shapes of the
// CPU engine's own pass, for each build given: node run.mjs NAME=FILE.wasm ...
// Prints JSON: per build, crate and shape, the median ms and GFLOP/s, and the largest difference
// between the two crates' results (they must agree).
import { readFileSync } from 'node:fs';

// m (pixels in a band or a map) × k (the stacked neighbourhood) × n (output channels), as
// src/host.rs multiplies them at 256 px: conv1_2's band, conv2_2's band, conv3_x's three
// products of depth 3·c over the 64×64 map, conv4_x's over 32×32, and a Gram matrix FᵀF.
const SHAPES = [
  ['conv1_2 band', 1024, 576, 64],
  ['conv2_2 band', 1024, 1152, 128],
  ['conv3_2 row product', 4096, 768, 256],
  ['conv4_2 row product', 1024, 1536, 512],
  ['gram conv3_1', 256, 4096, 256],
];
const ROUNDS = Number(process.env.ROUNDS ?? 7);

const results = [];
for (const arg of process.argv.slice(2)) {
  const [build, file] = arg.split('=');
  const { instance } = await WebAssembly.instantiate(readFileSync(file), {});
  const x = instance.exports;
  for (const [shape, m, k, n] of SHAPES) {
    const a = x.buffer(m * k), b = x.buffer(k * n);
    const outs = { gemm: x.buffer(m * n), matrixmultiply: x.buffer(m * n) };
    // A view of the memory as it is now: the products may grow it (their own workspace), which
    // detaches this view, so the check below takes a new one.
    const f32 = new Float32Array(x.memory.buffer);
    let seed = 1;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
    for (let i = 0; i < m * k; i++) f32[a / 4 + i] = rand();
    for (let i = 0; i < k * n; i++) f32[b / 4 + i] = rand();
    for (const [crate, fn] of [['gemm', x.by_gemm], ['matrixmultiply', x.by_matrixmultiply]]) {
      fn(m, k, n, a, b, outs[crate]); // warm-up (and V8's tiering)
      const ms = [];
      for (let r = 0; r < ROUNDS; r++) {
        const t = performance.now();
        fn(m, k, n, a, b, outs[crate]);
        ms.push(performance.now() - t);
      }
      ms.sort((p, q) => p - q);
      const median = ms[ms.length >> 1];
      results.push({ build, crate, shape, m, k, n, ms: +median.toFixed(2), gflops: +(2 * m * k * n / median / 1e6).toFixed(2) });
    }
    const now = new Float32Array(x.memory.buffer);
    const g = now.subarray(outs.gemm / 4, outs.gemm / 4 + m * n);
    const mm = now.subarray(outs.matrixmultiply / 4, outs.matrixmultiply / 4 + m * n);
    let worst = 0;
    for (let i = 0; i < m * n; i++) worst = Math.max(worst, Math.abs(g[i] - mm[i]) / (1 + Math.abs(g[i])));
    if (worst > 1e-3) throw new Error(`${build} ${shape}: the crates disagree by ${worst}`);
  }
}
console.log(JSON.stringify(results, null, 1));
