"""Optimizers (gd, momentum, RMSprop, Adam) and learning-rate decay.

Each optimizer is a small class that updates the parameters in place. Its arithmetic runs on
flat buffers: all parameters in one array, all gradients in another, the state (v, s) one array
per kind (see ``_flat``), so a step is a few ufunc passes over one array. Updates are written
as in-place array operations on preallocated buffers: they run once per mini-batch on every
weight, so a temporary array per operation would cost about as much as the matrix products of
a small network.

The passes run block by block (``BLOCK`` elements at a time): Adam's ten passes touch four
arrays of the whole network, more than a core's L2 cache holds, so over the whole buffer each
pass would fetch its arrays again from L3; a block's four slices stay in L2 from its first pass
to its last. Element-wise arithmetic does not depend on the blocking: the results are the same
bits either way.

The course's own lines (``v = beta1*v + (1-beta1)*dW``, ``v_hat = v / (1 - beta1**t)``, ...) are
in :mod:`hpsearch.trainer._optimizers_reference`; a test runs both and requires the same
parameters to ~1e-12. Each fused line below says which part of the course's formula it computes.
"""

from __future__ import annotations

import math

import numpy as np

from ._config import TrainConfig
from ._flat import FlatLayout

# Elements per block of the update's passes: 4 float32 arrays x 64k = 1 MiB, within L2.
BLOCK = 1 << 16


def learning_rate_at(config: TrainConfig, epoch: int) -> float:
    """Learning rate for 0-based ``epoch`` (the first epoch uses lr0 = config.learning_rate).

    inverse_time: lr0 / (1 + decay_rate * epoch); exponential: lr0 * decay_rate ** epoch
    (decay_rate = 0.95 gives Ng's 0.95^epoch schedule); none: lr0.
    """
    lr0 = config.learning_rate
    if config.lr_decay == "inverse_time":
        return lr0 / (1.0 + config.decay_rate * epoch)
    if config.lr_decay == "exponential":
        return lr0 * config.decay_rate**epoch
    return lr0


class _FlatOptimizer:
    """Shared by the optimizers: their arithmetic runs on flat buffers (see ``_flat``).

    :meth:`update_flat` takes all parameters as one flat array and all gradients as another
    (the trainer keeps them that way, so a step is a few ufunc passes over one array);
    :meth:`update` takes dictionaries keyed by parameter name, packs them into flat buffers,
    runs the same arithmetic and copies the parameters back (used by tests and small callers).
    The state (``v``, ``s``) is one flat array per kind; ``self.v[name]`` etc. are views of it.
    """

    STATE: tuple[str, ...] = ()  # names of the state arrays, zero-initialised

    def __init__(self) -> None:
        self.t = 0
        self._layout: FlatLayout | None = None
        self._flat_state: dict[str, np.ndarray] = {}
        self._scratch: np.ndarray | None = None
        self._packed: tuple[np.ndarray, np.ndarray] | None = None
        self._lr = 0.0  # this step's learning rate (set by _prepare)
        for kind in self.STATE:
            setattr(self, kind, {})

    def update(
        self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], learning_rate: float
    ) -> None:
        """Update ``params[name]`` in place for every ``name`` in ``grads``."""
        layout = self._layout if self._layout is not None else FlatLayout.of(grads)
        if not layout.matches(grads):
            raise ValueError("optimizer: the gradients changed names or shapes between steps")
        if self._packed is None:
            dtype = np.result_type(*grads.values())
            self._packed = (np.empty(layout.size, dtype), np.empty(layout.size, dtype))
        P, G = self._packed
        layout.pack(params, P)
        layout.pack(grads, G)
        self.update_flat(P, G, learning_rate, layout)
        layout.unpack(P, {k: params[k] for k in grads})

    def update_flat(
        self,
        P: np.ndarray,
        G: np.ndarray,
        learning_rate: float,
        layout: FlatLayout | None = None,
        decay: tuple[float, list[tuple[int, int]]] | None = None,
    ) -> None:
        """One step on the flat parameters P from the flat gradients G (same layout every step).

        G's content is lost (an optimizer may use it as scratch space).

        ``layout`` (optional) names the parts, so that ``self.v["W1"]`` etc. view the state.
        ``decay = (c, ranges)`` first adds c P[a:b] to G[a:b] for each (a, b) in ranges: the L2
        term's gradient (lambd / m) W, added block by block while the block is in cache instead
        of in two more passes over every W (the same arithmetic, so the same bits).
        """
        self.t += 1
        if self._scratch is None:
            self._scratch = np.empty_like(P)
            for kind in self.STATE:
                self._flat_state[kind] = np.zeros_like(P)
            if layout is not None:
                self._layout = layout
                for kind in self.STATE:
                    setattr(self, kind, layout.views(self._flat_state[kind]))
        self._prepare(learning_rate)
        state = [self._flat_state[kind] for kind in self.STATE]
        scratch = self._scratch
        for i in range(0, P.size, BLOCK):
            j = min(i + BLOCK, P.size)
            for a, b in decay[1] if decay is not None else ():
                lo, hi = max(a, i), min(b, j)
                if lo < hi:  # G += c P on this block's part of a decayed W
                    G[lo:hi] += np.multiply(P[lo:hi], decay[0], out=scratch[lo:hi])
            part = slice(i, j)
            self._apply(P[part], G[part], scratch[part], *(a[part] for a in state))

    def _prepare(self, lr: float) -> None:
        """This step's scalars (``self.t`` is already counted)."""
        self._lr = lr

    def _apply(self, P: np.ndarray, G: np.ndarray, step: np.ndarray, *state: np.ndarray) -> None:
        """The update on one block: P, G, a scratch array and the state arrays (STATE order)."""
        raise NotImplementedError


class GradientDescent(_FlatOptimizer):
    """W = W - lr * dW."""

    def _apply(self, P: np.ndarray, G: np.ndarray, step: np.ndarray, *state: np.ndarray) -> None:
        step = G  # dW's buffer is the scratch
        np.multiply(G, self._lr, out=step)  # step = lr dW
        P -= step  # W = W - lr dW


class Momentum(_FlatOptimizer):
    """v = beta v + (1 - beta) dW; W -= lr * v (Ng's form, no bias correction)."""

    STATE = ("v",)

    def __init__(self, beta: float) -> None:
        super().__init__()
        self.beta = beta

    def _apply(self, P: np.ndarray, G: np.ndarray, step: np.ndarray, *state: np.ndarray) -> None:
        (v,) = state
        step = G  # dW's buffer is the scratch
        np.subtract(G, v, out=step)  # step = dW - v
        step *= 1.0 - self.beta  # step = (1 - beta) (dW - v)
        v += step  # v = v + (1 - beta) (dW - v) = beta v + (1 - beta) dW
        np.multiply(v, self._lr, out=step)  # step = lr v
        P -= step  # W = W - lr v


class RMSprop(_FlatOptimizer):
    """s = beta2 s + (1 - beta2) dW^2; W -= lr * dW / (sqrt(s) + eps)."""

    STATE = ("s",)

    def __init__(self, beta2: float, epsilon: float) -> None:
        super().__init__()
        self.beta2 = beta2
        self.epsilon = epsilon

    def _apply(self, P: np.ndarray, G: np.ndarray, step: np.ndarray, *state: np.ndarray) -> None:
        (s,) = state
        np.multiply(G, G, out=step)  # step = dW**2
        step -= s  # step = dW**2 - s
        step *= 1.0 - self.beta2  # step = (1 - beta2) (dW**2 - s)
        s += step  # s = s + (1 - beta2) (dW**2 - s) = beta2 s + (1 - beta2) dW**2
        np.sqrt(s, out=step)  # step = sqrt(s)
        step += self.epsilon  # step = sqrt(s) + eps
        np.divide(G, step, out=step)  # step = dW / (sqrt(s) + eps)
        step *= self._lr  # step = lr dW / (sqrt(s) + eps)
        P -= step  # W = W - lr dW / (sqrt(s) + eps)


class Adam(_FlatOptimizer):
    """Adam with bias correction (Kingma & Ba; Ng course 2 week 2).

        v = beta1 v + (1 - beta1) dW          v_hat = v / (1 - beta1^t)
        s = beta2 s + (1 - beta2) dW^2        s_hat = s / (1 - beta2^t)
        W -= lr * v_hat / (sqrt(s_hat) + eps)

    Stored are v' = v / (1 - beta1) and s' = s / (1 - beta2) (``self.v``, ``self.s``) so that
    each moment update is one scale and one add. Dividing the course's moment updates by
    (1 - beta1) and (1 - beta2):

        v' = beta1 v' + dW                    s' = beta2 s' + dW^2

    With c1 = (1 - beta1) / (1 - beta1^t) and c2 = (1 - beta2) / (1 - beta2^t) the corrected
    moments are v_hat = c1 v' and s_hat = c2 s', so the update is

        lr v_hat / (sqrt(s_hat) + eps) = lr c1 v' / (sqrt(c2) sqrt(s') + eps)
                                       = (lr c1 / sqrt(c2)) v' / (sqrt(s') + eps / sqrt(c2))
                                       = step_size v' / (sqrt(s') + eps_hat)

    two scalars per step (``step_size``, ``eps_hat``) instead of two bias-corrected arrays.
    On the trainer's flat buffers the whole step is the 10 ufunc passes below over one array
    each, on four arrays (P, G, v', s'; G's buffer doubles as the scratch).
    """

    STATE = ("v", "s")

    def __init__(self, beta1: float, beta2: float, epsilon: float) -> None:
        super().__init__()
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self._step_size = self._eps_hat = 0.0  # this step's scalars (set by _prepare)

    def _prepare(self, lr: float) -> None:
        t, b1, b2 = self.t, self.beta1, self.beta2
        bias_correction1 = 1.0 - b1**t  # v_hat = v / (1 - beta1**t)
        bias_correction2 = 1.0 - b2**t  # s_hat = s / (1 - beta2**t)
        c1 = (1.0 - b1) / bias_correction1  # v_hat = c1 v'  (v = (1 - beta1) v')
        sqrt_c2 = math.sqrt((1.0 - b2) / bias_correction2)  # sqrt(s_hat) = sqrt_c2 sqrt(s')
        self._step_size = lr * c1 / sqrt_c2  # lr v_hat / sqrt(s_hat) = step_size v'/sqrt(s')
        self._eps_hat = self.epsilon / sqrt_c2  # eps, divided by sqrt_c2 with the rest

    def _apply(self, P: np.ndarray, G: np.ndarray, step: np.ndarray, *state: np.ndarray) -> None:
        b1, b2, step_size, eps_hat = self.beta1, self.beta2, self._step_size, self._eps_hat
        v, s = state
        v *= b1  # v' = beta1 v'
        v += G  # v' = beta1 v' + dW  (v = beta1 v + (1 - beta1) dW, over 1 - beta1)
        step = G  # dW is not needed below: its buffer is the scratch (one array less to stream)
        np.multiply(G, G, out=step)  # step = dW**2
        s *= b2  # s' = beta2 s'
        s += step  # s' = beta2 s' + dW**2  (s = beta2 s + (1 - beta2) dW**2, over 1 - beta2)
        np.sqrt(s, out=step)  # step = sqrt(s')
        step += eps_hat  # step = sqrt(s') + eps_hat  = (sqrt(s_hat) + eps) / sqrt_c2
        np.divide(v, step, out=step)  # step = v' / (sqrt(s') + eps_hat)
        step *= step_size  # step = lr v_hat / (sqrt(s_hat) + eps)
        P -= step  # W = W - lr v_hat / (sqrt(s_hat) + eps)


Optimizer = GradientDescent | Momentum | RMSprop | Adam


def make_optimizer(config: TrainConfig) -> Optimizer:
    """The optimizer named by config.optimizer, with its betas and epsilon."""
    if config.optimizer == "gd":
        return GradientDescent()
    if config.optimizer == "momentum":
        return Momentum(config.beta1)
    if config.optimizer == "rmsprop":
        return RMSprop(config.beta2, config.epsilon)
    return Adam(config.beta1, config.beta2, config.epsilon)
