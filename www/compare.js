// Before/after on the painting itself: a range input laid over the picture (drag anywhere on it,
// or use the arrow keys) lays the photo over its left part. The painting, and what Download
// saves, are untouched.

import { $ } from './dom.js';
import { state } from './state.js';

export function showCompare() {
  const photo = $('compare-photo');
  const share = Number($('compare').value);
  const src = $('content-thumb').src;
  const divider = $('divider');
  divider.style.left = `${share}%`;
  divider.classList.toggle('at-edge', share < 4);
  $('compare').setAttribute('aria-valuetext', share ? `the photo over the left ${share} %` : 'the painting only');
  if (!share || !src || $('content-thumb').hidden || !state.hasResult || state.shot) { photo.hidden = true; return; }
  if (photo.src !== src) photo.src = src;
  photo.style.clipPath = `inset(0 ${100 - share}% 0 0)`;
  photo.hidden = false;
}

export function wireCompare() {
  $('compare').addEventListener('input', showCompare);
  showCompare();
}
