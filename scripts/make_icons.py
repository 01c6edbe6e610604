#!/usr/bin/env python3
"""Draw the app icons (www/icons/icon-192.png, icon-512.png) with the standard library only:
a rounded umber square, an ochre brush stroke and a pale sun, as in www/icons/icon.svg."""
import math, os, struct, zlib

def png(path, size, pixel):
    rows = []
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            row += bytes(pixel(x / size * 512, y / size * 512))
        rows.append(bytes(row))
    raw = b"".join(rows)
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    open(path, "wb").write(data)

def pixel(x, y):
    r = 96  # corner radius
    cx, cy = min(max(x, r), 512 - r), min(max(y, r), 512 - r)
    if (x - cx) ** 2 + (y - cy) ** 2 > r * r:
        return (0, 0, 0, 0)
    if (x - 380) ** 2 + (y - 140) ** 2 < 34 ** 2:
        return (243, 210, 122, 255)
    # a wavy ochre band
    mid = 300 - 90 * math.sin((x - 96) / 320 * math.pi) + 0.15 * (x - 256)
    if 96 < x < 420 and abs(y - mid) < 38 - 30 * abs((x - 258) / 162) ** 2:
        return (224, 160, 96, 255)
    if 120 < x < 290 and abs(y - (150 - 0.12 * (x - 120) + 0.0009 * (x - 205) ** 2)) < 13:
        return (251, 247, 241, 255)
    return (122, 59, 29, 255)

here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "www", "icons")
for s in (192, 512):
    png(os.path.join(here, f"icon-{s}.png"), s, pixel)
