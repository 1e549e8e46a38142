"""Whether a search's convolutional networks fit its images, judged before anything starts.

Each conv block shrinks the image: the convolution to floor((n + 2p - f) / s) + 1 pixels a side,
its pooling to floor(n / pool_size); below one pixel the network cannot be built. The trainer
says why, in one line naming the block and the sizes (``conv_output_shapes``). Here:

- a network the search does not vary (no shape setting in [space]) that does not fit, and
  convolutions on data without an image shape (a CSV), are refused when the data is loaded
  (``validate`` and ``run``), with one line;
- a searched space is judged by its corners: when even its gentlest network (fewest blocks,
  smallest kernel and stride, "same" padding, no or the smallest pooling) does not fit, no
  convolutional trial could run and the definition is refused; when only its deepest corner
  does not fit, ``validate`` warns and the trials sampled there fail fast with the trainer's
  line as their reason (:func:`trial_misfit`, in the worker).

Imports neither Ray nor Optuna.
"""

from __future__ import annotations

from typing import Any

from hpsearch.searcher._definition import ConfigError, ParamSpec, SearchConfig
from hpsearch.searcher._names import trainer_settings

# The settings that decide the image sizes through the blocks (filters only set the channels).
SHAPE_SETTINGS = ("conv_blocks", "kernel", "stride", "padding", "pool", "pool_size")
CONV_SETTINGS = (*SHAPE_SETTINGS, "filters")


def trial_misfit(config: Any, image_shape: tuple[int, int, int] | None) -> str | None:
    """The trainer's one line saying why ``config`` (a ``TrainConfig``) does not fit images of
    ``image_shape`` (``conv block 2: max pool 2x2 of a 1x1x16 input leaves less than 1
    pixel``), or None when it fits (a dense network always does)."""
    from hpsearch.trainer import TrainerInputError, conv_output_shapes

    if config is None or not config.conv_blocks:  # None: an own model ([train] entrypoint)
        return None
    try:
        conv_output_shapes(config, image_shape)
    except TrainerInputError as e:
        return str(e)
    return None


def _numbers(spec: ParamSpec) -> list[Any]:
    if spec.kind == "categorical":
        return list(spec.choices)
    return [spec.low, spec.high]


def _corner(config: SearchConfig, *, deepest: bool) -> dict[str, Any]:
    """The shape settings of the space's deepest (or gentlest) convolutional network: every
    setting that shrinks the image at its most (or least) shrinking value."""
    space = {p.name: p for p in config.space}
    corner: dict[str, Any] = {}
    for name in SHAPE_SETTINGS:
        if name not in space:
            continue
        values = _numbers(space[name])
        if name == "padding":
            shrinking = "valid" if deepest else "same"
            corner[name] = shrinking if shrinking in values else values[0]
        elif name == "pool":
            pooled = [v for v in values if v != "none"]
            gentlest = "none" if "none" in values else values[0]
            corner[name] = (pooled or values)[0] if deepest else gentlest
        elif name == "conv_blocks":
            blocks = [int(v) for v in values if int(v) >= 1] or [0]
            if space[name].kind != "categorical":
                blocks = [max(1, int(space[name].low)), int(space[name].high)]
            corner[name] = max(blocks) if deepest else min(blocks)
        else:
            corner[name] = int(max(values) if deepest else min(values))
    return corner


def _probe(config: SearchConfig, corner: dict[str, Any]) -> Any:
    """A ``TrainConfig`` for ``corner``, the other searched settings at their low end (or
    first choice); None when the trainer refuses that combination for another reason (parsing
    judged the definition's own values already)."""
    from hpsearch.trainer import TrainConfig, TrainerInputError

    probe = dict(config.train)
    for p in config.space:
        probe[p.name] = p.choices[0] if p.kind == "categorical" else p.low
        if p.kind == "int":
            probe[p.name] = int(p.low)  # type: ignore[arg-type]
    probe |= corner
    try:
        return TrainConfig.from_dict(trainer_settings(probe))
    except (TrainerInputError, TypeError, ValueError):
        return None


def _conv_reachable(config: SearchConfig) -> tuple[bool, str]:
    """(whether some trial has conv blocks, the key saying so)."""
    space = {p.name: p for p in config.space}
    if "conv_blocks" in space:
        return max(int(v) for v in _numbers(space["conv_blocks"])) > 0, "space.conv_blocks"
    return int(config.train.get("conv_blocks", 0)) > 0, "train.conv_blocks"


def _images(data: Any) -> str:
    shape = data.image_shape
    return f"{'x'.join(map(str, shape))} images of {data.name}"


def check_network_fits(config: SearchConfig, data: Any) -> None:
    """Refuse convolutions the data cannot take: conv blocks on data without an image shape,
    a fixed network whose shapes do not fit the images, a space none of whose convolutional
    networks fit.

    Raises:
        ConfigError: one line naming the key and, from the trainer, the block and the sizes
            (``train.conv_blocks: conv block 3: max pool 2x2 of a 1x1x32 input leaves less than
            1 pixel (8x8x1 images of digits)``).
    """
    reachable, key = _conv_reachable(config)
    if not reachable:
        return
    if data.image_shape is None:
        raise ConfigError(
            f"{key}: convolutional blocks need image data, and {data.name} has no image shape "
            "(a table of features); use conv_blocks = 0, or images: digits, mnist, "
            "fashion-mnist, a folder of IDX files or an .npz with X of shape (m, h, w[, c])",
            field=key,
        )
    searched = any(p.name in SHAPE_SETTINGS for p in config.space)
    gentle = _probe(config, _corner(config, deepest=False))
    reason = trial_misfit(gentle, data.image_shape) if gentle is not None else None
    if reason and searched:
        raise ConfigError(
            f"space: no convolutional network of the space fits the {_images(data)}, not even "
            f"the smallest: {reason}",
            field="space",
        )
    if reason:
        raise ConfigError(f"{key}: {reason} ({_images(data)})", field=key)


def fit_warnings(config: SearchConfig, data: Any) -> list[str]:
    """``validate``'s warnings: the space's deepest convolutional network does not fit the
    images (its trials fail fast), or conv settings searched for dense networks only."""
    reachable, _ = _conv_reachable(config)
    searched = [p.name for p in config.space if p.name in CONV_SETTINGS and p.name != "conv_blocks"]
    if not reachable:
        return [
            f"warning: space.{name}: has no effect, every network is dense (conv_blocks = 0)"
            for name in searched
        ]
    if data is None or data.image_shape is None:
        return []
    if not any(p.name in SHAPE_SETTINGS for p in config.space):
        return []
    corner = _corner(config, deepest=True)
    deepest = _probe(config, corner)
    reason = trial_misfit(deepest, data.image_shape) if deepest is not None else None
    if not reason:
        return []
    where = ", ".join(f"{k} = {v}" for k, v in corner.items())
    return [
        f"warning: space: the deepest networks ({where}) do not fit the {_images(data)}: "
        f"{reason}; trials sampled there fail at once with that reason"
    ]
