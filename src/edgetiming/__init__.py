"""edgetiming: edge ML inference timing, measured.

The package is layered; a module imports only from layers below its own
(``tests/unit/test_architecture.py`` enforces it):

- :mod:`edgetiming.stats`, :mod:`edgetiming.host`, :mod:`edgetiming.workload`:
  statistics, the machine, the models and inputs. They import nothing above.
- :mod:`edgetiming.results`: what a recipe reports (:mod:`~edgetiming.results.report`),
  the typed result, the store on disk, history and figures.
- :mod:`edgetiming.measure`: how to time (closed and open loops, sessions, cold start, ...).
- :mod:`edgetiming.run`: the executor (``edgetiming run``).
- :mod:`edgetiming.casestudies`: contributed case studies.
- :mod:`edgetiming.site`: pages and ``mkdocs build`` (``edgetiming site``).
- :mod:`edgetiming.cli`: the command line.

``docs/contributing/architecture.md`` draws the layers from the code.
"""

from __future__ import annotations

__version__ = "0.1.0"
