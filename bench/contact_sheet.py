#!/usr/bin/env python3
"""A contact sheet for looking at results: one row per pair — the photo, then each painting named
on the command line — all at the paintings' size, with a label over each column. Needs Pillow.

  bench/contact_sheet.py OUT.png --columns photo,cs20,default ROW [ROW …]
  ROW = PHOTO:IMAGE[:IMAGE…]  (one image per column after the photo)
"""
import argparse
from PIL import Image, ImageDraw

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("rows", nargs="+")
ap.add_argument("--columns", required=True, help="column labels, comma-separated, the photo's first")
ap.add_argument("--height", type=int, default=256, help="each row's height in pixels")
args = ap.parse_args()

labels = args.columns.split(",")
rows = [r.split(":") for r in args.rows]
if any(len(r) != len(labels) for r in rows):
    raise SystemExit(f"each row needs {len(labels)} images, as many as --columns")
H, LABEL, GAP = args.height, 22, 6
tiles = []
for row in rows:
    imgs = [Image.open(p).convert("RGB") for p in row]
    ref = imgs[-1]  # the photo is shown at the paintings' aspect and size, as they were judged
    w = round(H * ref.width / ref.height)
    tiles.append([im.resize((w, H), Image.LANCZOS) for im in imgs])
width = max(sum(t.width for t in row) + GAP * (len(row) - 1) for row in tiles)
sheet = Image.new("RGB", (width, LABEL + len(tiles) * (H + GAP)), "white")
draw = ImageDraw.Draw(sheet)
x = 0
for label, tile in zip(labels, tiles[0]):
    draw.text((x + 4, 4), label, fill="black")
    x += tile.width + GAP
for k, row in enumerate(tiles):
    x, y = 0, LABEL + k * (H + GAP)
    for tile in row:
        sheet.paste(tile, (x, y))
        x += tile.width + GAP
sheet.save(args.out)
print(args.out)
