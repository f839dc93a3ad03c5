"""Standard latency figures with one shared style and data-derived alt text.

Every function returns ``(fig, alt_text)``: a :class:`matplotlib.figure.Figure`
built without pyplot (no global figure registry, no GUI backend, safe under
Agg and in worker processes) and a sentence describing what the figure shows,
computed from the same numbers it plots. Percentiles are nearest-rank with
exact intervals from :mod:`edgetiming.stats.quantiles`.

The style draws on an opaque light background with dark-grey text, so a PNG
reads the same on a white or a dark page, and uses the Okabe-Ito colour-blind
safe palette. Every axis names its unit.
"""

from edgetiming.results.figures import core as _core
from edgetiming.results.figures import experiments as _experiments
from edgetiming.results.figures.core import *  # noqa: F403
from edgetiming.results.figures.experiments import *  # noqa: F403

__all__ = [*_core.__all__, *_experiments.__all__]
