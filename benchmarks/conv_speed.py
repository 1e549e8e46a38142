"""Convolutional trainer speed: 28x28x1 random inputs, batch 128, float32, Adam, 1 BLAS thread.

Two networks (ReLU, max pool 2 after each conv, softmax over 10 classes):
  - lenet:  conv 5x5x6 (valid) -> pool -> conv 5x5x16 (valid) -> pool -> 120 -> 84 -> 10.
            Valid padding, as LeNet-5; on 28x28 inputs (not LeNet's 32x32) the flattened
            features are 4x4x16 = 256 instead of 5x5x16 = 400.
  - c32-64: conv 3x3x32 (same) -> pool -> conv 3x3x64 (same) -> pool -> 10 (7x7x64 = 3136
            features straight into the softmax layer).

Printed for each, all measured in this run:
  - samples/s of the training steps (MiniBatchTrainer.run_epoch: what train() runs between
    its evaluations);
  - ratio to NumPy's own time for the same matrix products (each block's im2col product
    forward, dW and -- except block 1 -- dcols backward, and the dense layers' products, on
    preallocated arrays of the same shapes and layouts): the limit of an im2col trainer in
    NumPy;                                                                   target >= 0.5
  - ratio to PyTorch CPU (1 thread, same network, Adam), when importable;   target >= 0.6x

Each measurement runs ``--repeats`` times, interleaved, and the best counts; times are this
process's CPU time (``--clock cpu``, the default: everything runs on one thread, so CPU time
measures the work even while other processes load the machine) or wall time (``--clock wall``).

    python benchmarks/conv_speed.py [--batches 40] [--repeats 3] [--clock cpu|wall]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, uninstalled
from hpsearch.trainer import Network, TrainConfig, conv_output_shapes
from hpsearch.trainer._conv_shapes import conv_blocks
from hpsearch.trainer._train import MiniBatchTrainer

IMAGE, N_CLASSES, BATCH = (28, 28, 1), 10, 128
NETWORKS = {
    "lenet": TrainConfig(
        conv_blocks=2, filters=(6, 16), kernel=5, padding="valid", pool="max", pool_size=2,
        layers=2, units=(120, 84), batch_size=BATCH,
    ),
    "c32-64": TrainConfig(
        conv_blocks=2, filters=(32, 64), kernel=3, padding="same", pool="max", pool_size=2,
        layers=0, batch_size=BATCH,
    ),
}  # fmt: skip
Run = Callable[[], float]


def clock(kind: str) -> Callable[[], float]:
    return time.process_time if kind == "cpu" else time.perf_counter


def make_data(m: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X_rows = rng.standard_normal((m, int(np.prod(IMAGE))), dtype=np.float32)  # (m, n_x)
    return X_rows, rng.integers(0, N_CLASSES, size=m)


def ours(cfg: TrainConfig, X_rows: np.ndarray, y: np.ndarray, tick: Callable[[], float]) -> Run:
    net = Network.initialize(
        cfg, X_rows.shape[1], N_CLASSES, np.random.default_rng(0), image_shape=IMAGE
    )
    trainer = MiniBatchTrainer(net, dropout_rng=np.random.default_rng(1))
    shuffle = np.random.default_rng(2)
    trainer.run_epoch(X_rows[: 2 * BATCH], y[: 2 * BATCH], 1e-3, 1, shuffle)  # warm up

    def run() -> float:
        t0 = tick()
        trainer.run_epoch(X_rows, y, 1e-3, 1, shuffle)
        return tick() - t0

    return run


def matmul_limit(cfg: TrainConfig, steps: int, tick: Callable[[], float]) -> Run:
    """The products of one training step, with preallocated outputs, ``steps`` times."""
    rng = np.random.default_rng(0)
    f32 = np.float32
    products = []  # (a, b, out): out = a @ b
    for blk in conv_blocks(cfg, IMAGE):
        n_H, n_W, n_C = blk.conv_shape
        rows, width = BATCH * n_H * n_W, blk.f * blk.f * blk.in_shape[2]
        cols = rng.standard_normal((rows, width), dtype=f32)
        W2 = rng.standard_normal((width, n_C), dtype=f32)
        dZ = rng.standard_normal((rows, n_C), dtype=f32)
        products.append((cols, W2, np.empty((rows, n_C), f32)))  # Z = cols W2
        products.append((cols.T, dZ, np.empty((width, n_C), f32)))  # dW = cols^T dZ
        if blk.index > 1:
            products.append((dZ, W2.T, np.empty((rows, width), f32)))  # dcols = dZ W2^T
    n_flat = int(np.prod(conv_output_shapes(cfg, IMAGE)[-1]))
    dims = cfg.layer_dims(n_flat, N_CLASSES)
    A = rng.standard_normal((BATCH, n_flat), dtype=f32).T  # (n_flat, b) view, as the trainer's
    for l in range(1, len(dims)):
        W = rng.standard_normal((dims[l], dims[l - 1]), dtype=f32)
        dZ = rng.standard_normal((dims[l], BATCH), dtype=f32)
        products.append((W, A, np.empty((dims[l], BATCH), f32)))  # Z = W A
        products.append((dZ, A.T, np.empty_like(W)))  # dW = dZ A^T
        products.append((W.T, dZ, np.empty((dims[l - 1], BATCH), f32)))  # dA_prev = W^T dZ
        A = rng.standard_normal((dims[l], BATCH), dtype=f32)

    def run() -> float:
        t0 = tick()
        for _ in range(steps):
            for a, b, out in products:
                np.matmul(a, b, out=out)
        return tick() - t0

    return run


def pytorch(
    cfg: TrainConfig, X_rows: np.ndarray, y: np.ndarray, tick: Callable[[], float]
) -> Run | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    nn = torch.nn
    layers: list = []
    for blk in conv_blocks(cfg, IMAGE):
        pad = blk.pad[0]  # odd kernels here: symmetric padding
        layers += [nn.Conv2d(blk.in_shape[2], blk.conv_shape[2], blk.f, blk.stride, pad), nn.ReLU()]
        layers.append(nn.MaxPool2d(blk.pool_size))
    layers.append(nn.Flatten())
    n_prev = int(np.prod(conv_output_shapes(cfg, IMAGE)[-1]))
    for units in cfg.hidden_units:
        layers += [nn.Linear(n_prev, units), nn.ReLU()]
        n_prev = units
    layers.append(nn.Linear(n_prev, N_CLASSES))
    model = nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    X_t = torch.from_numpy(X_rows.reshape(-1, *IMAGE)).permute(0, 3, 1, 2).contiguous()  # NCHW
    y_t = torch.from_numpy(y)
    gen = torch.Generator().manual_seed(0)

    def epoch() -> None:
        perm = torch.randperm(X_t.shape[0], generator=gen)
        for start in range(0, X_t.shape[0], BATCH):
            idx = perm[start : start + BATCH]
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(X_t[idx]), y_t[idx])
            loss.backward()
            opt.step()

    def run() -> float:
        t0 = tick()
        epoch()
        return tick() - t0

    return run


def best(runs: dict[str, Run | None], repeats: int) -> dict[str, tuple[float, float]]:
    """name -> (best, worst) seconds over interleaved repeats."""
    times: dict[str, list[float]] = {k: [] for k, r in runs.items() if r is not None}
    for _ in range(repeats):
        for name in times:
            times[name].append(runs[name]())  # type: ignore[misc]
    return {k: (min(v), max(v)) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40, help="mini-batches per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = parser.parse_args()
    tick = clock(args.clock)
    with threadpool_limits(limits=1):
        for pool in threadpool_info():
            api, version, kernel = (
                pool.get(k) for k in ("internal_api", "version", "architecture")
            )
            print(f"BLAS: {api} {version} kernel={kernel} threads={pool.get('num_threads')}")
        X_rows, y = make_data(args.batches * BATCH)
        for name, cfg in NETWORKS.items():
            shapes = " -> ".join("x".join(map(str, s)) for s in conv_output_shapes(cfg, IMAGE))
            print(f"\n{name}: 28x28x1 -> {shapes} -> {cfg.hidden_units} -> {N_CLASSES}")
            runs = {
                "ours": ours(cfg, X_rows, y, tick),
                "matmul": matmul_limit(cfg, args.batches, tick),
                "torch": pytorch(cfg, X_rows, y, tick),
            }
            t = best(runs, args.repeats)
            m = X_rows.shape[0]
            for k, (lo, hi) in t.items():
                print(f"  {k:7s} {m / lo:9.0f} samples/s   (spread {hi / lo:.2f})")
            print(f"  ours / matmul limit: {t['matmul'][0] / t['ours'][0]:.2f}  (target >= 0.5)")
            if "torch" in t:
                ratio = t["torch"][0] / t["ours"][0]
                print(f"  ours / PyTorch 1 thread: {ratio:.2f}x  (target >= 0.6)")
            else:
                print("  PyTorch not installed: comparison skipped")
    print(f"\n({args.clock} clock; the machine is shared, so absolute numbers are noisy)")


if __name__ == "__main__":
    main()
