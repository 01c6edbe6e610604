// Impasto's service worker (generated into /sw.js by scripts/build-web, which fills in BUILD and
// PRECACHE). Precaches the app shell and the wasm under a cache named by a hash of the build,
// deletes other builds' caches on activate, caches model weights on first use, and serves only
// same-origin GET requests: everything else goes to the network untouched.

const BUILD = '__BUILD__';
const CACHE = `impasto-${BUILD}`;
const PRECACHE = __PRECACHE__;

// Cross-origin isolation, which the CPU engine's threads need (www/worker.js): where the host
// sends no COOP/COEP (scripts/serve.py and `_headers` do), the responses served here carry them,
// so a revisited or installed page has its threads. A response that has them is left as it is.
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
function isolated(response) {
  // (A response that may have no body cannot be rebuilt with one.)
  if (!response.ok || [204, 205].includes(response.status) || response.headers.has('Cross-Origin-Embedder-Policy')) return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(ISOLATION)) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith('impasto-') && key !== CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  if (event.data === 'skip-waiting') self.skipWaiting();
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const key = request.mode === 'navigate' ? './' : request;
    const hit = await cache.match(key, { ignoreSearch: request.mode === 'navigate' });
    if (hit) return isolated(hit);
    const response = await fetch(request);
    // Model weights are large: cache them the first time they are used, while the page reads
    // them (it shows the download's progress).
    if (response.ok && url.pathname.endsWith('.bpk')) event.waitUntil(cache.put(request, response.clone()));
    return isolated(response);
  })());
});
