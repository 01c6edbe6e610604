// Small helpers every module uses.

/** The element of this id: which kind of element it is, the HTML says (unchecked).
 * @type {(id: string) => any} */
export const $ = (id) => document.getElementById(id);

/** The core's messages are sentence fragments ("the content image is …"): one sentence each. */
export function sentence(message) {
  const m = String(message).trim();
  return m.charAt(0).toUpperCase() + m.slice(1) + (/[.!?]$/.test(m) ? '' : '.');
}

export function formatTime(seconds) {
  if (!Number.isFinite(seconds)) return '–';
  const s = Math.round(seconds);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

export function setStatus(text) { $('status').textContent = text; }

/** The screen reader's line: only a run's start, every 10 %, pause and end go here. */
export function announce(text) { $('announce').textContent = text; }

/** A general error (settings, the engine), below Start; empty hides it. */
export function showError(message) {
  const el = $('error');
  el.textContent = message;
  el.hidden = !message;
}

export function saveBlob(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
