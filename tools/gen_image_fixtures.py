#!/usr/bin/python3
"""Generates tests/fixtures/images/: small PNGs and JPEGs and what PIL and torchvision make of them,
for tests/test_image.c (src/data/image.c, src/data/resample.c).

Inputs (odd sizes such as 37x23 and 23x41, smooth gradients plus seeded noise):
  PNGs written byte by byte here (PIL cannot write 16-bit RGB, low bit depths or Adam7): gray 1, 2,
  4 (interlaced), 8 and 16 bits, gray+alpha, RGB 8 (plain and interlaced) and 16 bits, RGBA,
  palette 8 and 4 bits with tRNS; every row uses another PNG filter (None, Sub, Up, Average, Paeth).
  JPEGs written by PIL: gray, RGB 4:2:0, 4:2:2 and 4:4:4, progressive, CMYK (Adobe), and a
  120x90 one for DCT-scaled decoding.
  Bad files: a truncated JPEG, a JPEG without its EOI marker, a truncated PNG, a PNG with a bad
  IHDR CRC, one with a bad CRC on an ancillary tEXt chunk, one with a bad IDAT CRC, an empty file
  and a text file; PIL must refuse each (checked here), except the bad IDAT CRC, which PIL does
  not check (libpng does: we are stricter there).

Expectations, all bytes in expect/expect.bin.gz (gzipped), described by expect/index.txt (one per line,
offsets into the unzipped bytes, lengths implied by the sizes):
  decode NAME C MIN_SHORT W H OFFSET          PIL: Image.open(f).convert('L' if C == 1 else 'RGB'),
                                              HWC; for 16-bit gray numpy's v >> 8 (PIL clips
                                              mode I instead); MIN_SHORT > 0: PIL's draft() scale
  resize NAME C R OH OW OFFSET                torchvision Resize(R) + CenterCrop((OH, OW)) on that
                                              PIL image (R = 0: CenterCrop only), CHW
  rcrop NAME C TOP LEFT BH BW OH OW OFFSET    torchvision F.resized_crop(img, TOP, LEFT, BH, BW,
                                              [OH, OW]), CHW
  bad NAME                                    a file that must be refused

    /usr/bin/python3 tools/gen_image_fixtures.py      (needs numpy, PIL, torchvision)

Fixed seeds: rerunning gives the same files.
"""
import gzip
import io
import os
import struct
import warnings
import zlib

import numpy as np
from PIL import Image
import torchvision.transforms as T
import torchvision.transforms.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "images")
EXP = os.path.join(OUT, "expect")


# ---------------------------------------------------------------- content

def pattern(w, h, ch, seed, hi=255):
    """Gradients in different directions per channel plus noise: compressible, but every pixel
    differs, so resampling weights matter."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for c in range(ch):
        a = (c + 1) * 0.7
        base = (np.sin(x * a / w * 3 + c) + np.cos(y * (c + 2) / h * 2)) * 0.25 + 0.5
        v = base * hi + rng.normal(0, hi * 0.08, (h, w))
        planes.append(np.clip(np.rint(v), 0, hi))
    dt = np.uint16 if hi > 255 else np.uint8
    return np.stack(planes, -1).astype(dt)


# ---------------------------------------------------------------- a PNG writer

def chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)


def pack_row(samples, depth):
    """One scanline's samples (1-D ints) as PNG bytes: MSB-first bit packing, big-endian 16-bit."""
    if depth == 16:
        return b"".join(struct.pack(">H", int(v)) for v in samples)
    if depth == 8:
        return bytes(int(v) for v in samples)
    per = 8 // depth
    out = bytearray()
    for i in range(0, len(samples), per):
        b = 0
        for j in range(per):
            v = int(samples[i + j]) if i + j < len(samples) else 0
            b |= v << (8 - depth * (j + 1))
        out.append(b)
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows, bpp, first_type):
    """Filters each raw row with type (first_type + index) % 5, as an encoder is free to."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for i, raw in enumerate(rows):
        t = (first_type + i) % 5
        f = bytearray()
        for x in range(len(raw)):
            a = raw[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][t]
            f.append((raw[x] - pred) & 255)
        out.append(t)
        out += f
        prev = raw
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png_bytes(samples, depth, ctype, plte=None, trns=None, interlace=False):
    """samples: H x W x channels ints. ctype: PNG colour type."""
    h, w, ch = samples.shape
    bpp = max(1, ch * depth // 8)
    if interlace:
        data = b""
        for p, (x0, y0, dx, dy) in enumerate(ADAM7):
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            rows = [pack_row(r.reshape(-1), depth) for r in sub]
            data += filter_rows(rows, bpp, p)
    else:
        data = filter_rows([pack_row(r.reshape(-1), depth) for r in samples], bpp, 0)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, int(interlace)))
    if plte is not None:
        out += chunk(b"PLTE", bytes(plte.reshape(-1).astype(np.uint8)))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    # two IDAT chunks, to exercise the chunk boundary
    z = zlib.compress(data, 9)
    half = len(z) // 2
    out += chunk(b"IDAT", z[:half]) + chunk(b"IDAT", z[half:]) + chunk(b"IEND", b"")
    return out


def make_pngs():
    """name -> (bytes, 16-bit reference array or None)"""
    files = {}
    g = pattern(37, 23, 1, 1)
    files["gray8.png"] = (png_bytes(g, 8, 0), None)
    files["gray1.png"] = (png_bytes(pattern(23, 41, 1, 2) >> 7, 1, 0), None)
    files["gray2.png"] = (png_bytes(pattern(37, 23, 1, 3) >> 6, 2, 0), None)
    files["gray4i.png"] = (png_bytes(pattern(23, 41, 1, 4) >> 4, 4, 0, interlace=True), None)
    g16 = pattern(37, 23, 1, 5, hi=65535)
    files["gray16.png"] = (png_bytes(g16, 16, 0), g16)
    files["graya.png"] = (png_bytes(pattern(23, 41, 2, 6), 8, 4), None)
    files["rgb.png"] = (png_bytes(pattern(37, 23, 3, 7), 8, 2), None)
    files["rgbi.png"] = (png_bytes(pattern(23, 41, 3, 8), 8, 2, interlace=True), None)
    files["rgba.png"] = (png_bytes(pattern(23, 41, 4, 9), 8, 6), None)
    r16 = pattern(37, 23, 3, 10, hi=65535)
    files["rgb16.png"] = (png_bytes(r16, 16, 2), r16)
    rng = np.random.default_rng(11)
    pal = rng.integers(0, 256, (256, 3))
    idx = (pattern(37, 23, 1, 12).astype(np.int64) * 7) % 256
    files["palette.png"] = (png_bytes(idx, 8, 3, plte=pal, trns=bytes(rng.integers(0, 256, 40).astype(np.uint8))), None)
    idx4 = pattern(23, 41, 1, 13) >> 4
    files["palette4.png"] = (png_bytes(idx4, 4, 3, plte=pal[:16], trns=b"\x00\x80"), None)
    return files


def make_jpegs():
    files = {}
    def save(im, **kw):
        b = io.BytesIO()
        im.save(b, "JPEG", **kw)
        return b.getvalue()
    files["gray.jpg"] = save(Image.fromarray(pattern(37, 23, 1, 20)[..., 0], "L"), quality=90)
    files["rgb420.jpg"] = save(Image.fromarray(pattern(37, 23, 3, 21)), quality=85, subsampling=2)
    files["rgb422.jpg"] = save(Image.fromarray(pattern(29, 37, 3, 22)), quality=85, subsampling=1)
    files["rgb444.jpg"] = save(Image.fromarray(pattern(23, 41, 3, 23)), quality=85, subsampling=0)
    files["progressive.jpg"] = save(Image.fromarray(pattern(41, 29, 3, 24)), quality=80, progressive=True)
    files["cmyk.jpg"] = save(Image.fromarray(pattern(23, 17, 4, 25), "CMYK"), quality=90)
    files["big.jpg"] = save(Image.fromarray(pattern(120, 90, 3, 26)), quality=75)
    return files


# ---------------------------------------------------------------- expectations

def pil_decode(data, c, draft=None):
    im = Image.open(io.BytesIO(data))
    if draft:
        im.draft("RGB", draft)
    return im.convert("L" if c == 1 else "RGB")


def chw(im):
    a = np.asarray(im)
    if a.ndim == 2:
        a = a[None]
    else:
        a = a.transpose(2, 0, 1)
    return np.ascontiguousarray(a).tobytes()


def resize_cases(w, h):
    s = min(w, h)
    return [(16, 16, 16), (12, 10, 7), (40, 14, 20), (14, 18, 20), (0, 9, 44), (s, 11, 13), (9, 9, 30)]


def rcrop_cases(w, h):
    return [(2, 3, h - 5, w - 7, 8, 8), (0, 0, h, w, 11, w), (5, 1, 10, 12, 17, 25), (1, 2, 12, 9, 12, 14),
            (h // 3, w // 4, h // 2, w // 2, 7, 5)]


# the images whose 1-channel decode is also resampled (the other 1-channel cases take the same path)
LUMA_RESAMPLED = {"gray8.png", "gray16.png", "rgb.png", "rgb420.jpg", "progressive.jpg"}


def main():
    warnings.filterwarnings("ignore", "Palette images with Transparency")
    os.makedirs(EXP, exist_ok=True)
    blob = bytearray()
    index = []
    pngs = make_pngs()
    jpegs = make_jpegs()
    inputs = {}
    for name, (data, ref16) in pngs.items():
        inputs[name] = (data, ref16)
    for name, data in jpegs.items():
        inputs[name] = (data, None)
    for name, (data, ref16) in sorted(inputs.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        if name == "big.jpg":
            continue   # only its DCT-scaled decode below
        for c in (1, 3):
            im = pil_decode(data, c)
            a = np.asarray(im)
            if ref16 is not None:
                hb = (ref16 >> 8).astype(np.uint8)
                if ref16.shape[2] == 1:   # PIL opens 16-bit gray as mode I and clips; we keep high bytes
                    a = hb[..., 0] if c == 1 else np.repeat(hb, 3, 2)
                else:
                    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), hb)
                im = Image.fromarray(a)
            a = np.ascontiguousarray(a)
            hgt, wid = a.shape[:2]
            index.append(f"decode {name} {c} 0 {wid} {hgt} {len(blob)}")
            blob += a.tobytes()
            if c == 1 and name not in LUMA_RESAMPLED:
                continue
            for (r, oh, ow) in resize_cases(wid, hgt):
                t = T.CenterCrop((oh, ow))(T.Resize(r)(im) if r > 0 else im)
                assert t.size == (ow, oh)
                index.append(f"resize {name} {c} {r} {oh} {ow} {len(blob)}")
                blob += chw(t)
            for (top, left, bh, bw, oh, ow) in rcrop_cases(wid, hgt):
                assert 0 <= top and top + bh <= hgt and 0 <= left and left + bw <= wid
                t = F.resized_crop(im, top, left, bh, bw, [oh, ow])
                index.append(f"rcrop {name} {c} {top} {left} {bh} {bw} {oh} {ow} {len(blob)}")
                blob += chw(t)
    # DCT-scaled decoding: PIL's draft picks 1/2 for a 60x45 request, as min_short 40 does here
    for c in (1, 3):
        im = pil_decode(jpegs["big.jpg"], c, draft=(60, 45))
        a = np.ascontiguousarray(np.asarray(im))
        assert a.shape[:2] == (45, 60)
        index.append(f"decode big.jpg {c} 40 60 45 {len(blob)}")
        blob += a.tobytes()

    bad = {}
    j = jpegs["rgb420.jpg"]
    bad["truncated.jpg"] = j[: len(j) * 6 // 10]
    assert j[-2:] == b"\xff\xd9"
    bad["noeoi.jpg"] = j[:-2]
    p = pngs["rgb.png"][0]
    bad["truncated.png"] = p[: len(p) * 7 // 10]
    q = bytearray(p)
    q[8 + 8 + 13] ^= 0x55   # IHDR's CRC: signature, length and tag, 13 bytes of IHDR
    bad["badcrc.png"] = bytes(q)
    q = bytearray(p)
    q[q.rindex(b"IEND") - 4 - 4] ^= 0x55   # the last IDAT's CRC ends where IEND's length starts
    bad["badcrc_idat.png"] = bytes(q)
    t = chunk(b"tEXt", b"Comment\0an ancillary chunk")
    t = t[:-1] + bytes([t[-1] ^ 0x55])
    bad["badcrc_text.png"] = p[:33] + t + p[33:]   # after IHDR; libpng only warns by default
    bad["empty.bin"] = b""
    bad["text.txt"] = b"this is not an image\n"
    for name, data in bad.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        index.append(f"bad {name}")
        if name == "badcrc_idat.png":
            continue   # PIL never checks IDAT CRCs and decodes this; libpng (and we) refuse it
        try:
            Image.open(io.BytesIO(data)).convert("RGB")
            raise SystemExit(f"PIL accepts {name}; it is no bad file")
        except (OSError, SyntaxError):
            pass

    with open(os.path.join(EXP, "expect.bin.gz"), "wb") as f:
        f.write(gzip.compress(bytes(blob), 9, mtime=0))
    with open(os.path.join(EXP, "index.txt"), "w") as f:
        f.write("\n".join(index) + "\n")
    total = sum(os.path.getsize(os.path.join(d, n)) for d in (OUT, EXP) for n in os.listdir(d)
                if os.path.isfile(os.path.join(d, n)))
    print(f"{len(index)} expectations, {len(blob)} bytes of expected pixels, {total} bytes in all")


if __name__ == "__main__":
    main()
