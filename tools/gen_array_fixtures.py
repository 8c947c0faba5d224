#!/usr/bin/python3
"""Generates tests/fixtures/arrays/: NumPy and CIFAR files for tests/test_arrays.c and
tests/test_cifar.c (and the seed corpora of the fuzz_npy and fuzz_cifar targets).

Deterministic (fixed seeds, no timestamps: zip members are written with a fixed date), small
(about 70 KB). Run from the repository root:  /usr/bin/python3 tools/gen_array_fixtures.py

  dt_<type>_<le|be>.npy   one (2, 3) array per dtype and byte order, written by np.save
  fortran_*.npy           Fortran-order arrays (np.save of an order='F' array)
  scalar_f8.npy, five_d_u1.npy, empty_f4.npy   0-d, 5-d and zero-size shapes
  v2_i2.npy, v3_f4.npy    header versions 2.0 and 3.0 (np.lib.format.write_array)
  native_eq_i4.npy        a hand-written header with the '=' (native) byte order
  stored.npz, compressed.npz   np.savez / np.savez_compressed with train_x, train_y, test_x, test_y
  expected.txt            numpy's view of every good array above, one line each:
                            <file>[:<key>] <dtype> <ndim> <dims...> : <values in C order...>
                          (floats as repr(float(v)), exact for every dtype here)
  bad_*.npy, bad_*.npz    broken files (see BAD below); each must be refused with a message
  cifar10/                data_batch_1.bin, data_batch_2.bin (3 records each), test_batch.bin (2),
                          batches.meta.txt (CIFAR-10's names, with the blank line the real file ends in)
  cifar100/               train.bin (4 records), test.bin (2), fine_label_names.txt (100 names)
  cifar10_notest/         data_batch_1.bin only (a missing test batch)
  bad_cifar/size.bin      3073 * 2 + 5 bytes; bad_cifar/label10.bin: a CIFAR-10 batch whose
                          second record has label 10
  cifar_expected.txt      per split: <dir> <train|test> <n> <classes> : labels... ; <checksum>
                          where checksum = sum over all pixel bytes b[i] (i counts from 0 over the
                          whole split, records in file order) of (i % 65521 + 1) * b[i]
"""
import io
import os
import struct
import zipfile
import zlib

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "arrays")
FIXED_DATE = (2020, 1, 1, 0, 0, 0)
expected = []


def path(name):
    return os.path.join(OUT, name)


def vals(a):
    out = []
    for v in np.asarray(a).ravel(order="C").tolist():
        if isinstance(v, bool):
            out.append("1" if v else "0")
        elif isinstance(v, int):
            out.append(str(v))
        else:
            out.append(repr(float(v)))
    return out


def record(label, a):
    a = np.asarray(a)
    dims = [str(d) for d in a.shape]
    expected.append(" ".join([label, a.dtype.name, str(a.ndim)] + dims + [":"] + vals(a)))


def save(name, a):
    np.save(path(name), a)
    record(name, a)


def raw_npy(descr, fortran, shape_text, data, major=1, d=None):
    """A .npy image from its parts (or from the dict text d), padded the way numpy pads."""
    if d is None:
        d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape_text)
    pre = 10 if major == 1 else 12
    hlen = len(d) + 1
    hlen += (64 - (pre + hlen) % 64) % 64
    h = d + " " * (hlen - len(d) - 1) + "\n"
    size = struct.pack("<H", hlen) if major == 1 else struct.pack("<I", hlen)
    return b"\x93NUMPY" + bytes([major, 0]) + size + h.encode("latin1") + data


def npy_bytes(a, version=None):
    f = io.BytesIO()
    np.lib.format.write_array(f, a, version=version, allow_pickle=True)
    return f.getvalue()


def npz(name, arrays, compress):
    """np.savez / np.savez_compressed's layout (members '<key>.npy', forced zip64 local headers)
    with a fixed member date so that the bytes do not depend on the clock."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path(name), "w", compression=method) as z:
        for key, a in arrays.items():
            info = zipfile.ZipInfo(key + ".npy", date_time=FIXED_DATE)
            info.compress_type = method
            with z.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(a))
            record("%s:%s" % (name, key), a)


def hand_zip(name, data, declared, method=zipfile.ZIP_DEFLATED, member="x.npy", zip64=False):
    """A one-member zip written field by field, declaring `declared` uncompressed bytes in both the
    local and the central header (in a zip64 extra field when zip64 is set)."""
    comp = zlib.compress(data, 9)[2:-4] if method == zipfile.ZIP_DEFLATED else data
    crc = zlib.crc32(data)
    fname = member.encode()
    usz, csz = (0xFFFFFFFF, 0xFFFFFFFF) if zip64 else (declared, len(comp))
    lextra = struct.pack("<HHQQ", 1, 16, declared, len(comp)) if zip64 else b""
    cextra = lextra
    ver = 45 if zip64 else 20
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, ver, 0, method, 0, 0x5021, crc, csz, usz,
                        len(fname), len(lextra)) + fname + lextra
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, ver, ver, 0, method, 0, 0x5021, crc, csz, usz,
                          len(fname), len(cextra), 0, 0, 0, 0, 0) + fname + cextra
    body = local + comp
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(body), 0)
    with open(path(name), "wb") as f:
        f.write(body + central + eocd)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if os.path.isfile(path(f)):
            os.remove(path(f))
    rng = np.random.default_rng(20240611)

    # every dtype, both byte orders (one-byte types have only '|')
    base = {
        "b1": np.array([[True, False, True], [False, False, True]]),
        "u1": np.array([[0, 1, 127], [128, 200, 255]]),
        "i1": np.array([[-128, -1, 0], [1, 77, 127]]),
        "u2": np.array([[0, 1, 258], [32768, 40000, 65535]]),
        "i2": np.array([[-32768, -300, 0], [1, 513, 32767]]),
        "u4": np.array([[0, 1, 65536], [16777217, 3000000000, 4294967295]]),
        "i4": np.array([[-2147483648, -70000, 0], [1, 16909060, 2147483647]]),
        "u8": np.array([[0, 1, 4294967296], [2**53, 2**63 - 1, 2**64 - 1]], dtype=np.uint64),
        "i8": np.array([[-2**63, -(2**40) - 3, 0], [1, 2**53 + 1, 2**63 - 1]], dtype=np.int64),
        "f2": np.array([[0.0, -1.5, 65504.0], [6.1035e-05, 5.96e-08, np.inf]]),
        "f4": np.array([[0.0, -1.25, 3.4028234663852886e38], [1e-45, 0.1, -7.0]]),
        "f8": np.array([[0.0, -2.5, 1e300], [5e-324, 0.1, -np.inf]]),
    }
    for t, a in base.items():
        orders = [("le", "<"), ("be", ">")] if t not in ("b1", "u1", "i1") else [("le", "|")]
        for suffix, o in orders:
            save("dt_%s_%s.npy" % (t, suffix), a.astype(o + t))

    # memory order, shapes, header versions
    save("fortran_i2.npy", np.asfortranarray(np.arange(24, dtype="<i2").reshape(2, 3, 4) * 3 - 30))
    save("fortran_f8_be.npy", np.asfortranarray(np.arange(6, dtype=">f8").reshape(3, 2) / 4 - 0.5))
    save("scalar_f8.npy", np.array(3.5))
    save("five_d_u1.npy", (np.arange(12, dtype=np.uint8) * 7).reshape(2, 1, 3, 1, 2))
    save("empty_f4.npy", np.zeros((0, 3), dtype="<f4"))
    a = (rng.integers(-1000, 1000, size=(3, 4))).astype("<i2")
    with open(path("v2_i2.npy"), "wb") as f:
        np.lib.format.write_array(f, a, version=(2, 0))
    record("v2_i2.npy", a)
    a = rng.standard_normal((2, 2)).astype("<f4")
    with open(path("v3_f4.npy"), "wb") as f:
        np.lib.format.write_array(f, a, version=(3, 0))
    record("v3_f4.npy", a)
    a = np.array([5, -6, 7], dtype=np.int32)
    with open(path("native_eq_i4.npy"), "wb") as f:
        f.write(raw_npy("=i4", "False", "(3,)", a.astype("<i4").tobytes()))
    record("native_eq_i4.npy", a)

    # archives
    arrays = {
        "train_x": rng.integers(0, 256, size=(4, 1, 2, 2), dtype=np.uint8),
        "train_y": np.array([3, 0, 9, 1], dtype=np.int64),
        "test_x": rng.standard_normal((2, 1, 2, 2)).astype(np.float32),
        "test_y": np.array([7, 2], dtype=np.uint8),
    }
    npz("stored.npz", arrays, False)
    npz("compressed.npz", arrays, True)
    # what the numpy writers themselves produce must agree with the fixed-date copies
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    with zipfile.ZipFile(buf) as z:
        assert sorted(z.namelist()) == sorted(k + ".npy" for k in arrays)

    # broken npy files
    good = npy_bytes(np.arange(10, dtype="<f4"))
    data_at = len(good) - 40
    with open(path("bad_truncated_header.npy"), "wb") as f:
        f.write(good[:30])
    with open(path("bad_truncated_data.npy"), "wb") as f:
        f.write(good[:-3])
    with open(path("bad_trailing.npy"), "wb") as f:
        f.write(good + b"\0\0\0\0")
    with open(path("bad_magic.npy"), "wb") as f:
        f.write(b"\x93NUMPZ" + good[6:])
    with open(path("bad_no_shape.npy"), "wb") as f:
        f.write(raw_npy(None, None, None, good[data_at:], d="{'descr': '<f4', 'fortran_order': False, }"))
    with open(path("bad_overflow.npy"), "wb") as f:
        f.write(raw_npy("<f4", "False", "(1099511627776, 1099511627776, 1099511627776)", good[data_at:]))
    with open(path("bad_object.npy"), "wb") as f:
        f.write(npy_bytes(np.array([1, "a"], dtype=object)))
    with open(path("bad_structured.npy"), "wb") as f:
        f.write(npy_bytes(np.zeros(2, dtype=[("x", "<f4"), ("y", "<i4")])))
    with open(path("bad_complex.npy"), "wb") as f:
        f.write(npy_bytes(np.array([1 + 2j], dtype="<c8")))
    with open(path("bad_unicode.npy"), "wb") as f:
        f.write(npy_bytes(np.array(["ab", "cd"], dtype="<U2")))

    # broken archives
    with open(path("compressed.npz"), "rb") as f:
        z = bytearray(f.read())
    # the deflate stream of the first member: after its local header (30 bytes + name + extra)
    nlen, elen = struct.unpack("<HH", z[26:30])
    start = 30 + nlen + elen
    for i in range(start + 4, start + 24):
        z[i] ^= 0x5A
    with open(path("bad_corrupt_deflate.npz"), "wb") as f:
        f.write(z)
    payload = npy_bytes(np.zeros(64, dtype="<f4"))
    hand_zip("bad_huge_zip64.npz", payload, 1 << 40, zip64=True)       # over SN_NPZ_MAX_MEMBER
    hand_zip("bad_huge_declared.npz", payload, 0xFFFFFF00)            # more than deflate can give
    hand_zip("bad_size_mismatch.npz", payload, len(payload) + 1000)   # inflates to fewer bytes
    hand_zip("ok_hand.npz", payload, len(payload))                    # the same writer, honest
    record("ok_hand.npz:x", np.zeros(64, dtype="<f4"))

    # CIFAR
    cifar_expected = []

    def batch(labels, coarse=None):
        recs = []
        for i, lab in enumerate(labels):
            px = rng.integers(0, 256, size=3072, dtype=np.uint8).tobytes()
            head = bytes([lab]) if coarse is None else bytes([coarse[i], lab])
            recs.append((head, px))
        return recs

    def write_batch(d, name, recs):
        os.makedirs(path(d), exist_ok=True)
        with open(path(os.path.join(d, name)), "wb") as f:
            for head, px in recs:
                f.write(head + px)

    def expect(d, split, recs, classes):
        px = np.frombuffer(b"".join(p for _, p in recs), dtype=np.uint8).astype(np.uint64)
        w = np.arange(px.size, dtype=np.uint64) % 65521 + 1
        labels = [str(h[-1]) for h, _ in recs]
        cifar_expected.append("%s %s %d %d : %s ; %d" % (d, split, len(recs), classes, " ".join(labels),
                                                          int((px * w).sum())))

    for d in ("cifar10", "cifar100", "cifar10_notest", "bad_cifar"):
        if os.path.isdir(path(d)):
            for f in os.listdir(path(d)):
                os.remove(path(os.path.join(d, f)))
    b1, b2, tb = batch([6, 9, 9]), batch([4, 1, 0]), batch([3, 8])
    write_batch("cifar10", "data_batch_1.bin", b1)
    write_batch("cifar10", "data_batch_2.bin", b2)
    write_batch("cifar10", "test_batch.bin", tb)
    names10 = "airplane automobile bird cat deer dog frog horse ship truck".split()
    with open(path("cifar10/batches.meta.txt"), "w") as f:
        f.write("\n".join(names10) + "\n\n")
    expect("cifar10", "train", b1 + b2, 10)
    expect("cifar10", "test", tb, 10)
    tr, te = batch([19, 0, 99, 51], coarse=[11, 4, 19, 0]), batch([42, 7], coarse=[5, 2])
    write_batch("cifar100", "train.bin", tr)
    write_batch("cifar100", "test.bin", te)
    with open(path("cifar100/fine_label_names.txt"), "w") as f:
        f.write("".join("fine_%02d\n" % i for i in range(100)))
    expect("cifar100", "train", tr, 100)
    expect("cifar100", "test", te, 100)
    write_batch("cifar10_notest", "data_batch_1.bin", batch([2]))
    os.makedirs(path("bad_cifar"), exist_ok=True)
    with open(path("bad_cifar/size.bin"), "wb") as f:
        f.write(b"".join(h + p for h, p in batch([1, 2])) + b"\1\2\3\4\5")
    write_batch("bad_cifar", "label10.bin", batch([5, 10, 3]))

    with open(path("expected.txt"), "w") as f:
        f.write("\n".join(expected) + "\n")
    with open(path("cifar_expected.txt"), "w") as f:
        f.write("\n".join(cifar_expected) + "\n")


if __name__ == "__main__":
    main()
