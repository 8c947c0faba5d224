#!/usr/bin/python3
"""Writes tests/fixtures/data: a tiny image data set in the formats `--data` reads, for the
command-line tests (tests/cli_data.sh). Deterministic; run with Debian's python3 (numpy, PIL):
    /usr/bin/python3 tools/gen_data_fixtures.py
  folder/train/<class>/*.png  RGB 12x10, 3 classes x 8 (one class as palette PNGs, one gray)
  folder/val/<class>/*.jpg    mixed sizes (resized and centre-cropped to the model's input)
  folder/train/cicada/notes.txt   not an image: ignored and counted
  single/<class>/*.png        one split only (needs --val-split)
  broken/train/<class>/...    a truncated PNG among good ones (a counted skip)
  npy/{train,test}_{x,y}.npy  the same training images, NHWC uint8, int64 labels
The images of a class share a colour so that a small net learns them in one epoch."""
import os, shutil
import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'fixtures', 'data')
CLASSES = ['ant', 'bee', 'cicada']
COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]
rng = np.random.default_rng(7)


def image(k, h, w):
    base = np.array(COLOURS[k], np.float64)
    noise = rng.normal(0, 20, (h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    xs, ys = [], []
    for k, c in enumerate(CLASSES):
        for split, n in (('train', 8), ('val', 3)):
            os.makedirs(f'{OUT}/folder/{split}/{c}')
        os.makedirs(f'{OUT}/single/{c}')
        os.makedirs(f'{OUT}/broken/train/{c}')
        os.makedirs(f'{OUT}/broken/test/{c}')
        for i in range(8):
            a = image(k, 10, 12)
            im = Image.fromarray(a)
            if k == 1: im = im.convert('P', palette=Image.ADAPTIVE, colors=16)
            if k == 2 and i % 2: im = im.convert('L')
            im.save(f'{OUT}/folder/train/{c}/{i:02d}.png')
            Image.fromarray(a).save(f'{OUT}/single/{c}/{i:02d}.png')
            Image.fromarray(a).save(f'{OUT}/broken/train/{c}/{i:02d}.png')
            xs.append(np.asarray(im.convert('RGB')))
            ys.append(k)
        for i, (h, w) in enumerate([(10, 12), (30, 20), (17, 40)]):
            Image.fromarray(image(k, h, w)).save(f'{OUT}/folder/val/{c}/{i:02d}.jpg', quality=90)
            Image.fromarray(image(k, h, w)).save(f'{OUT}/broken/test/{c}/{i:02d}.png')
    with open(f'{OUT}/folder/train/cicada/notes.txt', 'w') as f:
        f.write('not an image\n')
    good = open(f'{OUT}/broken/train/ant/00.png', 'rb').read()
    with open(f'{OUT}/broken/train/ant/99.png', 'wb') as f:
        f.write(good[:len(good) // 2])
    os.makedirs(f'{OUT}/npy')
    x, y = np.stack(xs), np.array(ys, np.int64)
    np.save(f'{OUT}/npy/train_x.npy', x)
    np.save(f'{OUT}/npy/train_y.npy', y)
    np.save(f'{OUT}/npy/test_x.npy', x[::4])
    np.save(f'{OUT}/npy/test_y.npy', y[::4])


if __name__ == '__main__':
    main()
