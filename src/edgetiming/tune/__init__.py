"""``edgetiming tune``: the configuration with the lowest proven tail latency under an accuracy floor.

See :mod:`edgetiming.tune.tuner` for the outputs, :mod:`edgetiming.tune.race` for the racing
rule and :mod:`edgetiming.tune.space` for the knobs searched.

The names below load :mod:`edgetiming.tune.tuner` on first use (PEP 562), so a measuring child
process that imports :mod:`edgetiming.tune.race` does not import optuna and matplotlib
(about 1 s of a fresh process's start on the 2-vCPU runner).
"""

from typing import Any

__all__ = ["TuneError", "TuneResult", "load_session", "snippet", "tune"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from edgetiming.tune import tuner

        return getattr(tuner, name)
    raise AttributeError(f"module 'edgetiming.tune' has no attribute {name!r}")
