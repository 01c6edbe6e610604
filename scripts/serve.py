#!/usr/bin/env python3
"""Serve the Impasto app from the repository root on 127.0.0.1, with the right MIME types, a
Content-Security-Policy without unsafe-inline/unsafe-eval (only wasm-unsafe-eval), cross-origin
isolated (unless --no-isolation), and only the files the app is made of (not the sources or build
folders).

A file with precompressed copies (`target/web/precompressed/F.br`, `.gz`, written by
scripts/build-web) is sent compressed to a browser that accepts it, as a static host would:
brotli, else gzip."""
import argparse, email.utils, http.server, os, posixpath, urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLOWED_FILES = {"/", "/index.html", "/manifest.webmanifest", "/sw.js"}
ALLOWED_DIRS = ("/www/", "/pkg/", "/models/")
PRECOMPRESSED = os.path.join(ROOT, "target", "web", "precompressed")
# (worker-src blob:: the threaded CPU engine's pool starts its workers from a blob of its own
# same-origin script, wasm-bindgen-rayon's way; index.html's meta tag says the same.)
CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
       "img-src 'self' blob: data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'none'")

# What makes a page cross-origin isolated; the same pair is in `_headers` (static hosts) and the
# service worker (www/sw.template.js, for hosts that send neither).
ISOLATION = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".webmanifest": "application/manifest+json",
        ".bpk": "application/octet-stream",
        ".svg": "image/svg+xml",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=ROOT, **kwargs)

    def allowed(self):
        path = posixpath.normpath(urllib.parse.urlsplit(self.path).path)
        if path != "/" and self.path.split("?")[0].endswith("/"):
            path += "/"
        if ".." in path or "/." in path:
            return False
        return path in ALLOWED_FILES or path.startswith(ALLOWED_DIRS) and not path.endswith("/")

    def do_GET(self):
        if not self.allowed():
            self.send_error(404)
            return
        if not self.send_precompressed(head=False):
            super().do_GET()

    def do_HEAD(self):
        if not self.allowed():
            self.send_error(404)
            return
        if not self.send_precompressed(head=True):
            super().do_HEAD()

    def send_precompressed(self, head):
        """Send the precompressed `F.br` or `F.gz` for `F` when the browser accepts that encoding
        and the copy is at least as new as `F` (a stale one is ignored). False when there is none."""
        path = self.translate_path(self.path)
        if os.path.isdir(path):
            path = os.path.join(path, "index.html")
        stored = os.path.join(PRECOMPRESSED, os.path.relpath(path, ROOT))
        accepted = set()
        for entry in self.headers.get("Accept-Encoding", "").split(","):
            name, _, params = entry.partition(";")
            if params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000"):  # q=0: refused
                accepted.add(name.strip())
        for encoding, suffix in (("br", ".br"), ("gzip", ".gz")):
            packed = stored + suffix
            if encoding not in accepted or not os.path.isfile(packed) or not os.path.isfile(path):
                continue
            if os.path.getmtime(packed) < os.path.getmtime(path):
                continue
            modified = int(os.path.getmtime(path))
            since = self.headers.get("If-Modified-Since")
            try:
                fresh = since is not None and email.utils.parsedate_to_datetime(since).timestamp() >= modified
            except (TypeError, ValueError):
                fresh = False
            if fresh:  # what the browser has is current: revalidated, not sent again
                self.send_response(304)
                self.send_header("Vary", "Accept-Encoding")
                self.end_headers()
                return True
            with open(packed, "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("Last-Modified", self.date_time_string(modified))
            self.send_header("Content-Type", self.guess_type(path))
            self.send_header("Content-Encoding", encoding)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Vary", "Accept-Encoding")
            self.end_headers()
            if not head:
                self.wfile.write(body)
            return True
        return False

    # Cross-origin isolation (COOP + COEP): the page and its workers may share memory, which the
    # CPU engine's threads need (www/worker.js). Off with --no-isolation (one thread).
    isolated = True

    def end_headers(self):
        self.send_header("Content-Security-Policy", CSP)
        if self.isolated:
            for name, value in ISOLATION.items():
                self.send_header(name, value)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, fmt, *args):
        if os.environ.get("IMPASTO_SERVE_LOG"):
            super().log_message(fmt, *args)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--no-isolation", action="store_true",
                   help="serve without COOP/COEP, as a host that sends no headers: one CPU thread")
    args = p.parse_args()
    Handler.isolated = not args.no_isolation
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"Impasto: http://127.0.0.1:{args.port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
