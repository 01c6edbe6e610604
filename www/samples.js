// "Try an example": a photo and a painting shipped with the app (www/samples/, precached for
// offline use; sources and licences in www/samples/CREDITS.md) fill both targets and a run starts
// at once, painting small first. Each click takes the next painting.

import { state } from './state.js';
import { running } from './phase.js';
import { accept, clear } from './files.js';
import { start } from './run.js';
import { showError } from './dom.js';

const PHOTO = { file: 'chelsea-the-cat.jpg', name: 'Chelsea the cat' };
const PAINTINGS = [
  { file: 'van-gogh-village-street-in-auvers.jpg', name: 'Van Gogh, Village Street in Auvers' },
  { file: 'hokusai-great-wave.jpg', name: 'Hokusai, The Great Wave off Kanagawa' },
  { file: 'kandinsky-composition-viii.jpg', name: 'Kandinsky, Composition VIII' },
];
let next = 0;

async function sample({ file, name }) {
  const response = await fetch(new URL(`./samples/${file}`, import.meta.url));
  if (!response.ok) throw new Error(`The example image ${file} could not be loaded (HTTP ${response.status}).`);
  return new File([await response.blob()], `${name}.jpg`, { type: 'image/jpeg' });
}

export async function tryExample() {
  if (running()) return;
  const painting = PAINTINGS[next];
  next = (next + 1) % PAINTINGS.length;
  try {
    const [photo, style] = await Promise.all([sample(PHOTO), sample(painting)]);
    accept('content', photo);
    accept('style', style);
    if (state.files.style2) clear('style2'); // an example is one photo and one painting
    start({ preview: true });
  } catch (err) {
    showError(err.message || String(err));
  }
}
