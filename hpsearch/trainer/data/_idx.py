"""IDX, the MNIST file format: read and write one file, and read a folder of MNIST-named files.

A folder holds ``train-images-idx3-ubyte[.gz]`` and ``train-labels-idx1-ubyte[.gz]`` and
optionally their ``t10k`` (test) pair; images are flattened to columns, (28, 28) -> 784 rows,
and keep their shape as ``image_shape``: (28, 28, 1) from a 3-D file, (h, w, c) from a 4-D one.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hpsearch.trainer._errors import DatasetError

from ._dataset import RawData, generated_names, image_shape_of

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_DTYPES.items()}
_IDX_NAME = re.compile(r"^(train|t10k|test)-(images|labels)[-.]idx\d-ubyte(\.gz)?$")


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None
    if data[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DatasetError(f"{path}: truncated or damaged gzip file ({e})") from None
    return data


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped or not) into an array of the shape its header gives.

    Header: two zero bytes, a dtype code (0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions, then each dimension as a big-endian
    uint32. A short or malformed file raises one :class:`DatasetError`.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
        raise DatasetError(
            f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'empty'})"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: truncated IDX file (header cut short)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    count = math.prod(dims)
    need, have = count * dtype.itemsize, len(data) - header
    if have != need:
        what = "truncated IDX file" if have < need else "IDX file has trailing bytes"
        raise DatasetError(f"{path}: {what}: header {dims} needs {need} data bytes, found {have}")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzipped when the name ends in ``.gz``."""
    native = np.asarray(array)
    native = native.astype(native.dtype.newbyteorder("="), copy=False)
    if native.dtype not in _IDX_CODES:
        raise DatasetError(f"{path}: IDX cannot store dtype {native.dtype}")
    code = _IDX_CODES[native.dtype]
    head = bytes([0, 0, code, native.ndim]) + struct.pack(f">{native.ndim}I", *native.shape)
    body = native.astype(np.dtype(_IDX_DTYPES[code])).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(head + body)


def find_idx_files(root: Path) -> dict[tuple[str, str], Path]:
    """Map (train|test, images|labels) to files by the standard names, searching 3 levels deep."""
    for folder, dirs, files in sorted(os.walk(root)):
        if len(Path(folder).relative_to(root).parts) >= 3:
            dirs.clear()
        found = {}
        for name in sorted(files):
            match = _IDX_NAME.match(name)
            if match:
                split = "train" if match.group(1) == "train" else "test"
                found.setdefault((split, match.group(2)), Path(folder) / name)
        if found:
            return found
    return {}


def idx_folder(root: Path, name: str, names: Sequence[str] | None = None) -> RawData:
    """The IDX files under ``root`` as one dataset; ``names`` names the classes 0, 1, ..."""
    files = find_idx_files(root)
    if not files:
        raise DatasetError(
            f"{root}: no IDX files found (expected train-images-idx3-ubyte[.gz], "
            "train-labels-idx1-ubyte[.gz] and optionally t10k-images / t10k-labels)"
        )
    parts, shapes = {}, {}
    for split in ("train", "test"):
        images, labels = files.get((split, "images")), files.get((split, "labels"))
        if images is None and labels is None:
            continue
        if images is None or labels is None:
            have = images or labels
            raise DatasetError(f"{have}: found without its matching {split} images/labels file")
        X = read_idx(images)
        y = read_idx(labels)
        if y.ndim != 1 or X.ndim < 2 or X.shape[0] != y.shape[0]:
            raise DatasetError(
                f"{images}: {X.shape[0] if X.ndim else 0} images but {labels.name} holds "
                f"labels of shape {y.shape}"
            )
        parts[split] = (X.reshape(X.shape[0], -1).T, y)  # (n_x, m): 28x28 images -> 784 rows
        shapes[split] = image_shape_of(X)
    first = parts.get("train") or parts["test"]
    scale = 1 / 255 if first[0].dtype == np.uint8 else 1.0
    raw = RawData(
        name=name,
        X=first[0],
        labels=first[1],
        scale=scale,
        source=str(root),
        feature_names=generated_names(first[0].shape[0], "pixel_"),
        image_shape=shapes["train" if "train" in parts else "test"],
    )
    if names is not None:
        raw.names = dict(enumerate(names))
    if "train" in parts and "test" in parts:
        if parts["test"][0].shape[0] != first[0].shape[0] or shapes["test"] != shapes["train"]:
            raise DatasetError(f"{root}: train and t10k images have different sizes")
        raw.X_test, raw.labels_test = parts["test"]
    return raw
