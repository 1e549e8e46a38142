"""Old home of the datasets, kept so existing imports work: use :mod:`hpsearch.trainer.data`."""

from __future__ import annotations

from .data import *  # noqa: F403
from .data import __all__  # noqa: F401
