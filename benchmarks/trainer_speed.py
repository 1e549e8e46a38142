"""Trainer speed: a 784-256-128-10 ReLU/softmax network, Adam, batch 128, float32, 1 BLAS thread.

Trains on 60,000 x 784 random inputs and prints, all measured in this run:
  - samples/s of the training steps, and of train() end to end (its per-epoch evaluation: the
    whole dev set, 10,000 samples here, and a fixed subsample of 10,000 training samples);
    train() gets X_train as load_dataset gives it (a (n_x, m) view of row-major samples);
    "from C-order X" passes a C-contiguous (n_x, m) instead, which costs one transposing copy
    of the training set per train() call;
  - train() end to end throughput / steps-only throughput;                 target >= 0.85
  - the share of the steps' time the Adam update alone takes (10 passes over the flat
    parameter buffer; see hpsearch/trainer/_optimizers.py), and what is left besides the
    matrix products and Adam (batch gathering, element-wise steps, Python, colder caches);
  - the ratio to NumPy's own time for the same matrix products (the 3 forward GEMMs and the
    5 backward ones -- no gradient for the inputs -- on the same batch layout): the limit for
    a NumPy trainer;                                        target >= 0.65 (SkylakeX kernel)
  - the extra cost of dropout (0.2 per hidden layer) + L2;                  target <= 15%
  - the throughput ratio to PyTorch CPU (1 thread), when importable;        target >= 1.1x
  - the throughput ratio to scikit-learn's MLPClassifier (same network);     target >= 1.25x

The BLAS kernel is printed first: OpenBLAS picks it per CPU unless OPENBLAS_CORETYPE forces one
(``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/trainer_speed.py`` for the
native kernel). A slower kernel (e.g. Haswell on an AVX-512 machine) makes the matmul limit
slower too, which hides the trainer's other costs: quote the ratio with its kernel.

Each measurement runs ``--repeats`` times, interleaved with the others, and the best time
counts; the spread (worst / best) is printed as the noise. Ratios use this process's CPU time
by default (``--clock cpu``): everything here runs on one thread, so CPU time measures the
work done even while other processes load the machine, where wall time would count the time
slices lost to them. ``--clock wall`` uses wall time (right on an idle machine).

    python benchmarks/trainer_speed.py [--epochs 1] [--repeats 3] [--clock cpu|wall]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, uninstalled
from hpsearch.trainer import Network, TrainConfig, train
from hpsearch.trainer._train import MiniBatchTrainer

N_X, HIDDEN, N_CLASSES, M, BATCH = 784, (256, 128), 10, 60_000, 128
Times = tuple[float, float]  # (wall seconds, CPU seconds of this process)


def now() -> Times:
    return time.perf_counter(), time.process_time()


def elapsed(t0: Times) -> Times:
    wall, cpu = now()
    return wall - t0[0], cpu - t0[1]


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X_rows = rng.standard_normal((M, N_X), dtype=np.float32)  # (m, n_x): samples as rows
    y = rng.integers(0, N_CLASSES, size=M)
    return X_rows, y


def config(**overrides) -> TrainConfig:
    return TrainConfig(
        layers=2, units=HIDDEN, activation="relu", optimizer="adam", batch_size=BATCH, **overrides
    )


def ours(X_rows: np.ndarray, y: np.ndarray, epochs: int, **overrides) -> Callable[[], Times]:
    """The trainer's training steps (what train() runs between its evaluations)."""

    def run() -> Times:
        cfg = config(**overrides)
        net = Network.initialize(cfg, N_X, N_CLASSES, np.random.default_rng(0))
        trainer = MiniBatchTrainer(net, dropout_rng=np.random.default_rng(1))
        shuffle = np.random.default_rng(2)
        trainer.run_epoch(X_rows[: 20 * BATCH], y[: 20 * BATCH], 1e-3, 1, shuffle)  # warm up
        t0 = now()
        for epoch in range(epochs):
            trainer.run_epoch(X_rows, y, 1e-3, epoch + 1, shuffle)
        return elapsed(t0)

    return run


def ours_train(
    X_rows: np.ndarray, y: np.ndarray, epochs: int, *, c_order: bool = False
) -> Callable[[], Times]:
    """train() end to end, with its per-epoch evaluation (10,000 dev + 10,000 train samples).

    X_train is X_rows.T, the (n_x, m) view of row-major samples that load_dataset gives
    (c_order=False), or a C-contiguous copy of it (c_order=True: train() transposes it once).
    """
    X_train = np.ascontiguousarray(X_rows.T) if c_order else X_rows.T  # (n_x, m)
    data = SimpleNamespace(
        X_train=X_train, y_train=y, X_dev=X_train[:, :10_000], y_dev=y[:10_000], n_classes=N_CLASSES
    )

    def run() -> Times:
        t0 = now()
        train(config(epochs=epochs), data)
        return elapsed(t0)

    return run


def matmul_limit(epochs: int) -> Callable[[], Times]:
    """The network's 8 GEMMs per step, with preallocated outputs, for as many steps."""
    rng = np.random.default_rng(0)
    dims = [N_X, *HIDDEN, N_CLASSES]
    W = [rng.standard_normal((dims[i + 1], dims[i]), dtype=np.float32) for i in range(3)]
    X = rng.standard_normal((BATCH, N_X), dtype=np.float32).T  # (n_x, b) view, like the trainer
    Z = [np.empty((d, BATCH), np.float32) for d in dims[1:]]
    dW = [np.empty_like(w) for w in W]
    dA = [np.empty((d, BATCH), np.float32) for d in dims[1:3]]
    steps = epochs * -(-M // BATCH)

    def run() -> Times:
        t0 = now()
        for _ in range(steps):
            np.matmul(W[0], X, out=Z[0])  # forward
            np.matmul(W[1], Z[0], out=Z[1])
            np.matmul(W[2], Z[1], out=Z[2])
            np.matmul(Z[2], Z[1].T, out=dW[2])  # backward
            np.matmul(W[2].T, Z[2], out=dA[1])
            np.matmul(dA[1], Z[0].T, out=dW[1])
            np.matmul(W[1].T, dA[1], out=dA[0])
            np.matmul(dA[0], X.T, out=dW[0])
        return elapsed(t0)

    return run


def adam_alone(epochs: int) -> Callable[[], Times]:
    """The trainer's Adam update alone, on flat buffers the size of the network's parameters,
    once per step (the gradient buffer is refilled before each update, outside the clock)."""
    cfg = config()
    net = Network.initialize(cfg, N_X, N_CLASSES, np.random.default_rng(0))
    trainer = MiniBatchTrainer(net, dropout_rng=np.random.default_rng(1))
    P, G = trainer.flat_params, trainer.flat_grads
    grad = np.random.default_rng(3).standard_normal(G.size, dtype=np.float32) * 1e-2
    steps = epochs * -(-M // BATCH)

    def run() -> Times:
        wall = cpu = 0.0
        for _ in range(steps):
            np.copyto(G, grad)
            t0 = now()
            trainer.optimizer.update_flat(P, G, 1e-3, trainer.layout)
            w, c = elapsed(t0)
            wall, cpu = wall + w, cpu + c
        return wall, cpu

    return run


def pytorch(X_rows: np.ndarray, y: np.ndarray, epochs: int) -> Callable[[], Times] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    X_t = torch.from_numpy(X_rows)
    y_t = torch.from_numpy(y)

    def run() -> Times:
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Linear(N_X, HIDDEN[0]),
            torch.nn.ReLU(),
            torch.nn.Linear(HIDDEN[0], HIDDEN[1]),
            torch.nn.ReLU(),
            torch.nn.Linear(HIDDEN[1], N_CLASSES),
        )
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = torch.nn.CrossEntropyLoss()

        def epoch(n: int) -> None:
            perm = torch.randperm(n)
            for i in range(0, n, BATCH):
                idx = perm[i : i + BATCH]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(X_t[idx]), y_t[idx])
                loss.backward()
                opt.step()

        epoch(20 * BATCH)  # warm up
        t0 = now()
        for _ in range(epochs):
            epoch(M)
        return elapsed(t0)

    return run


def sklearn_mlp(X_rows: np.ndarray, y: np.ndarray, epochs: int) -> Callable[[], Times] | None:
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None

    def run() -> Times:
        clf = MLPClassifier(
            hidden_layer_sizes=HIDDEN,
            activation="relu",
            solver="adam",
            alpha=0.0,
            batch_size=BATCH,
            learning_rate_init=1e-3,
            max_iter=epochs,
            shuffle=True,
            tol=0.0,
            n_iter_no_change=epochs + 1,
            random_state=0,
        )
        t0 = now()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X_rows, y)
        return elapsed(t0)

    return run


def blas_description() -> str:
    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    numpy_dir = os.path.dirname(np.__file__)
    own = [i for i in libs if "numpy" in i["filepath"]] or libs
    parts = [
        f"{i['internal_api']} {i.get('version')} kernel={i.get('architecture')} "
        f"threads={i['num_threads']}"
        for i in own
    ]
    coretype = os.environ.get("OPENBLAS_CORETYPE", "(unset)")
    return (
        f"numpy BLAS: {'; '.join(parts) or 'unknown'} (OPENBLAS_CORETYPE={coretype}, {numpy_dir})"
    )


def other_libraries() -> str:
    parts = []
    try:
        import torch

        info = torch.__config__.show()
        blas = next((w for w in info.replace(",", " ").split() if w.startswith("BLAS_INFO")), "")
        cap = next(
            (ln.split(":")[-1].strip() for ln in info.splitlines() if "capability" in ln), ""
        )
        parts.append(f"torch {torch.__version__} ({blas}, CPU capability {cap or '?'})")
    except ImportError:
        parts.append("torch not installed")
    try:
        import sklearn

        parts.append(f"scikit-learn {sklearn.__version__}")
    except ImportError:
        parts.append("scikit-learn not installed")
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1, help="epochs per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement")
    parser.add_argument(
        "--clock", choices=("cpu", "wall"), default="cpu", help="time the ratios are taken from"
    )
    args = parser.parse_args()

    X_rows, y = make_data()
    samples = args.epochs * M
    with threadpool_limits(limits=1):
        print(f"{platform.processor() or platform.machine()}, numpy {np.__version__}")
        print(blas_description())
        print(other_libraries())
        runs: dict[str, Callable[[], Times] | None] = {
            "numpy trainer (steps)": ours(X_rows, y, args.epochs),
            "matmul limit": matmul_limit(args.epochs),
            "Adam update alone": adam_alone(args.epochs),
            "numpy trainer + dropout 0.2 + L2": ours(
                X_rows, y, args.epochs, dropout=0.2, lambd=1e-3
            ),
            "numpy trainer train() end to end": ours_train(X_rows, y, args.epochs),
            "train() end to end from C-order X": ours_train(X_rows, y, args.epochs, c_order=True),
            "pytorch cpu": pytorch(X_rows, y, args.epochs),
            "sklearn MLPClassifier": sklearn_mlp(X_rows, y, args.epochs),
        }
        times: dict[str, list[Times]] = {k: [] for k, v in runs.items() if v is not None}
        for _ in range(args.repeats):
            for name, run in runs.items():
                if run is not None:
                    times[name].append(run())

    col = 0 if args.clock == "wall" else 1
    best = {k: min(t[col] for t in v) for k, v in times.items()}
    print(
        f"\n{args.epochs} epoch(s) of {M} samples, batch {BATCH}, best of {args.repeats} "
        f"by {args.clock} time (cpu = this process's CPU seconds, immune to other processes' "
        "load; everything runs on one thread):"
    )
    for name, ts in times.items():
        walls = [t[0] for t in ts]
        cpus = [t[1] for t in ts]
        print(
            f"  {name:36s} {samples / best[name]:10,.0f} samples/s   "
            f"(wall {min(walls):.3f} s spread {max(walls) / min(walls):.2f}x, "
            f"cpu {min(cpus):.3f} s spread {max(cpus) / min(cpus):.2f}x)"
        )
    base = best["numpy trainer (steps)"]
    print("\nratios (target):")
    print(
        f"  matmul limit / trainer time      {best['matmul limit'] / base:6.2f}  (>= 0.65 SkylakeX)"
    )
    adam = best["Adam update alone"] / base
    rest = 1.0 - best["matmul limit"] / base - adam
    print(f"  Adam update / trainer time       {adam:6.2f}  (the rest but matmuls: {rest:.2f})")
    e2e = base / best["numpy trainer train() end to end"]
    print(f"  train() end to end / steps only  {e2e:6.2f}  (>= 0.85, throughput ratio)")
    e2e_c = base / best["train() end to end from C-order X"]
    print(f"  same, X_train C-ordered          {e2e_c:6.2f}  (one transposing copy per train())")
    extra = best["numpy trainer + dropout 0.2 + L2"] / base - 1.0
    print(f"  dropout + L2 extra cost          {extra:6.1%}  (<= 15%)")
    if "pytorch cpu" in best:
        print(f"  speed vs PyTorch CPU (1 thread)  {best['pytorch cpu'] / base:6.2f}x (>= 1.1x)")
    else:
        print("  speed vs PyTorch CPU             torch not importable (pip install torch)")
    if "sklearn MLPClassifier" in best:
        ratio = best["sklearn MLPClassifier"] / base
        print(f"  speed vs sklearn MLPClassifier   {ratio:6.2f}x (>= 1.25x)")


if __name__ == "__main__":
    main()
