"""Image datasets keep their image shape (h, w, c); dense networks still see flat columns."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from hpsearch.trainer._errors import DatasetError
from hpsearch.trainer.data import load_dataset, make_dataset, read_idx, read_npz, write_idx
from hpsearch.trainer.data._bundled import FASHION_MNIST_DIR

# Fingerprints before image shapes existed: the shape must not change what a dataset hashes to
# (stored searches compare them on replay).
DIGITS_FINGERPRINT = "0a44eefc611418b2f1369271cfeb6c83030b6bd27f47169d0d8200f986949c0d"
IRIS_FINGERPRINT = "c467ed25eb7cb3c19b94a94748d25d25f6d8ff08171a5151a15c28343e2788b6"


def test_digits_are_8x8x1_images_in_row_major_order():
    d = load_dataset("digits", normalize="none", dtype="float64")
    assert d.image_shape == (8, 8, 1)
    assert load_dataset("digits").fingerprint == DIGITS_FINGERPRINT
    assert d.feature_names[:9] == (*(f"pixel_0_{c}" for c in range(8)), "pixel_1_0")
    image = d.X_train[:, 0].reshape(d.image_shape)  # (8, 8, 1), C order
    assert image[1, 0, 0] == d.X_train[8, 0]  # row 1, column 0 is the ninth pixel
    assert d.summary()["image_shape"] == [8, 8, 1]
    assert d.describe().startswith("digits: 8x8x1 images, n_x=64, ")


def test_tabular_data_has_no_image_shape(tmp_path):
    iris = load_dataset("iris")
    assert iris.image_shape is None and iris.fingerprint == IRIS_FINGERPRINT
    assert load_dataset("moons").image_shape is None
    (tmp_path / "t.csv").write_text(
        "a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40))
    )
    assert load_dataset(str(tmp_path / "t.csv")).image_shape is None
    assert iris.summary()["image_shape"] is None


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_columns_are_the_idx_images():
    d = load_dataset("fashion-mnist", max_samples=300, normalize="none", dtype="float64")
    assert d.image_shape == (28, 28, 1) and d.n_x == 784
    images = read_idx(FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz")  # (10000, 28, 28) uint8
    # every test column, reshaped to (28, 28, 1), is one of the file's images scaled to [0, 1]
    flat = {images[i].tobytes(): i for i in range(len(images))}
    for col in d.X_test.T[:20]:
        pixels = np.rint(col.reshape(d.image_shape)[:, :, 0] * 255).astype(np.uint8)
        assert pixels.tobytes() in flat


def _idx_folder(tmp_path, X, y):
    folder = tmp_path / "idx"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte.gz", X)
    write_idx(folder / "train-labels-idx1-ubyte.gz", y)
    return folder


def test_idx_folder_image_shape_comes_from_the_header(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(60, 5, 7, 3), dtype=np.uint8)  # colour images, 4-D file
    y = (np.arange(60) % 3).astype(np.uint8)
    d = load_dataset(str(_idx_folder(tmp_path, X, y)), normalize="none", dtype="float64")
    assert d.image_shape == (5, 7, 3) and d.n_x == 105
    lookup = {X[i].tobytes(): i for i in range(60)}
    for col in d.X_train.T:
        image = np.rint(col.reshape(5, 7, 3) * 255).astype(np.uint8)
        assert image.tobytes() in lookup
    assert gzip.decompress((tmp_path / "idx" / "train-images-idx3-ubyte.gz").read_bytes())[3] == 4


def test_idx_folder_of_flat_vectors_has_no_image_shape(tmp_path):
    X = np.random.default_rng(0).integers(0, 256, size=(40, 12), dtype=np.uint8)
    y = (np.arange(40) % 2).astype(np.uint8)
    assert load_dataset(str(_idx_folder(tmp_path, X, y))).image_shape is None


def test_npz_images_keep_their_shape(tmp_path):
    rng = np.random.default_rng(2)
    X4 = rng.normal(size=(50, 6, 4, 2))
    y = np.arange(50) % 2
    np.savez(tmp_path / "hwc.npz", X=X4, y=y)
    np.savez(tmp_path / "hw.npz", X=X4[..., 0], y=y)
    np.savez(tmp_path / "flat.npz", X=X4.reshape(50, -1), y=y)
    d = load_dataset(str(tmp_path / "hwc.npz"), normalize="none", dtype="float64")
    assert d.image_shape == (6, 4, 2)
    lookup = {X4[i].tobytes(): i for i in range(50)}
    assert all(col.reshape(6, 4, 2).tobytes() in lookup for col in d.X_train.T)
    assert load_dataset(str(tmp_path / "hw.npz")).image_shape == (6, 4, 1)
    assert load_dataset(str(tmp_path / "flat.npz")).image_shape is None
    # the readers prediction uses report the shape too, with and without labels
    assert read_npz(tmp_path / "hwc.npz").image_shape == (6, 4, 2)
    unlabelled = read_npz(tmp_path / "hw.npz", require_labels=False, n_features=24)
    assert unlabelled.image_shape == (6, 4, 1) and unlabelled.X.shape == (24, 50)


def test_make_dataset_checks_the_image_shape():
    X = np.random.default_rng(0).normal(size=(12, 40))
    y = np.arange(40) % 2
    assert make_dataset(X, y, image_shape=(3, 2, 2)).image_shape == (3, 2, 2)
    assert make_dataset(X, y).image_shape is None
    with pytest.raises(DatasetError, match=r"image_shape \(3, 3, 1\) holds 9 values"):
        make_dataset(X, y, image_shape=(3, 3, 1))
    with pytest.raises(DatasetError, match="image_shape must be"):
        make_dataset(X, y, image_shape=(12, 1))
    with pytest.raises(DatasetError, match="image_shape must be"):
        make_dataset(X, y, image_shape=(12, 1, True))
