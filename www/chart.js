// The loss chart, drawn here (no library): each loss term per iteration on one log₁₀ axis,
// since the terms differ by orders of magnitude. A record names its terms (the core's
// loss::Term); a term the run's loss lacks is not drawn.

import { $ } from './dom.js';
import { state } from './state.js';

const SERIES = [
  { key: 'style', label: 'style', color: '#c0392b' },
  { key: 'content', label: 'content', color: '#2471a3' },
  { key: 'tv', label: 'smoothing', color: '#7d8c2a' },
  { key: 'temporal', label: 'steadiness', color: '#7d3c98' },
];
let pending = false;

/** At most one redraw per frame, however fast iterations arrive. */
export function scheduleChart() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; drawChart(); });
}

export function drawChart() {
  const canvas = $('chart');
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const h = state.history;
  if (!h.length) return;
  const pad = { l: 44, r: 8, t: 8, b: 18 };
  const logs = [];
  for (const p of h) for (const s of SERIES) if (p[s.key] > 0) logs.push(Math.log10(p[s.key]));
  if (!logs.length) return;
  let lo = Math.floor(Math.min(...logs));
  let hi = Math.ceil(Math.max(...logs));
  if (hi === lo) hi = lo + 1;
  const first = h[0].iteration;
  const last = Math.max(h[h.length - 1].iteration, first + 1);
  const x = (i) => pad.l + ((i - first) / (last - first)) * (width - pad.l - pad.r);
  const y = (v) => pad.t + (1 - (v - lo) / (hi - lo)) * (height - pad.t - pad.b);
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#666';
  ctx.strokeStyle = '#e5e5e5';
  ctx.lineWidth = 1;
  for (let d = lo; d <= hi; d++) {
    ctx.beginPath(); ctx.moveTo(pad.l, y(d)); ctx.lineTo(width - pad.r, y(d)); ctx.stroke();
    ctx.fillText(`1e${d}`, 4, y(d) + 4);
  }
  ctx.fillText(`iteration ${h[h.length - 1].iteration}`, pad.l, height - 4);
  let legendX = width - pad.r;
  for (const s of SERIES) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let drawn = false;
    for (const p of h) {
      if (!(p[s.key] > 0)) continue;
      const px = x(p.iteration); const py = y(Math.log10(p[s.key]));
      if (drawn) ctx.lineTo(px, py); else ctx.moveTo(px, py);
      drawn = true;
    }
    ctx.stroke();
    if (drawn) {
      legendX -= ctx.measureText(s.label).width + 6;
      ctx.fillStyle = s.color;
      ctx.fillText(s.label, legendX, height - 4);
    }
  }
}
