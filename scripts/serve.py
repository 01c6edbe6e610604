#!/usr/bin/env python3
"""Serve the Impasto app from the repository root on 127.0.0.1, with the right MIME types, a
Content-Security-Policy without unsafe-inline/unsafe-eval (only wasm-unsafe-eval), and only the
files the app is made of (not the sources or build folders)."""
import argparse, http.server, os, posixpath, urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLOWED_FILES = {"/", "/index.html", "/manifest.webmanifest", "/sw.js"}
ALLOWED_DIRS = ("/www/", "/pkg/", "/models/")
CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
       "img-src 'self' blob: data:; worker-src 'self'; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'none'")


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
        super().do_GET()

    def do_HEAD(self):
        if not self.allowed():
            self.send_error(404)
            return
        super().do_HEAD()

    def end_headers(self):
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, fmt, *args):
        if os.environ.get("IMPASTO_SERVE_LOG"):
            super().log_message(fmt, *args)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=8080)
    args = p.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"Impasto: http://127.0.0.1:{args.port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
