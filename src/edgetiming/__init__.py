"""edgetiming: edge ML inference timing, measured.

The public surface is a handful of modules, imported on first use so that
``import edgetiming`` stays cheap:

- :mod:`edgetiming.report`: what a recipe calls to hand metrics, figures,
  samples and checks to the executor;
- :mod:`edgetiming.measure`, :mod:`edgetiming.openloop`,
  :mod:`edgetiming.pipeline`, :mod:`edgetiming.coldstart`: how to time;
- :mod:`edgetiming.stats`, :mod:`edgetiming.jitter`, :mod:`edgetiming.steady`,
  :mod:`edgetiming.compare`: how far to trust the numbers;
- :mod:`edgetiming.figures`: the standard plots, in one style;
- :mod:`edgetiming.models`: the real pretrained models a recipe can name.

The command line (``edgetiming run``, ``site``, ``serve``) lives in
:mod:`edgetiming.cli`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "coldstart",
    "compare",
    "figures",
    "jitter",
    "measure",
    "models",
    "openloop",
    "pipeline",
    "report",
    "resources",
    "stats",
    "steady",
]


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'edgetiming' has no attribute {name!r}")
