"""How loud onnxruntime's own log is; kept apart from :mod:`edgetiming.measure.session` so the
executor can name the setting without importing onnxruntime.

onnxruntime writes its log (severity 0 verbose, 1 info, 2 warning, 3 error, 4
fatal) straight to the process's standard error, past Python. By default the
library keeps errors only; under ``edgetiming run`` the executor asks for warnings
and sends the kernel's standard error to the run's ``kernel.log``, so the console
shows the progress lines alone and the log file holds everything.
"""

from __future__ import annotations

import os

__all__ = ["DEFAULT_SEVERITY", "ORT_LOG_SEVERITY_ENV", "log_severity"]

#: environment variable with onnxruntime's log severity for a process
ORT_LOG_SEVERITY_ENV = "EDGETIMING_ORT_LOG_SEVERITY"
DEFAULT_SEVERITY = 3  # errors only: onnxruntime's warnings (unused initializers, ...) are not ours to show


def log_severity() -> int:
    """onnxruntime's log severity for this process: ``$EDGETIMING_ORT_LOG_SEVERITY`` (0-4), else 3."""
    raw = os.environ.get(ORT_LOG_SEVERITY_ENV, "").strip()
    return int(raw) if raw in {"0", "1", "2", "3", "4"} else DEFAULT_SEVERITY
