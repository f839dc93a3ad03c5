"""Re-judge a bundle written under the old validity rule ("CV > 10% invalid") by today's rule.

Bundles of schema version 1 recorded each metric as valid or invalid with the
reasons joined in ``note``. Today's rule (:mod:`edgetiming.stats.validity`)
differs in two ways that can be applied to what was stored, without re-measuring:

- a coefficient of variation is never a reason (it is jitter, the subject of the
  site): "CV ... exceeds 10%" reasons are dropped and kept as a note;
- a percentile needs the two-sided minimum sample count (P99: 368, not 299), so a
  percentile metric with fewer samples becomes invalid.

Every other reason (throttling, harness overhead, too few samples) is kept. The
numbers stay as measured (one process each, so no between-run interval exists);
every metric is labelled with :data:`RULE_REJUDGED`, and the page says the bundle
was re-judged from stored results. Checks whose detail cited the CV rule get the
CV part removed and are marked re-judged. Checksums of data files are untouched;
``result.json`` is rewritten atomically.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from edgetiming.results.store import atomic_write_json
from edgetiming.stats.validity import RULE, Judgement, State, judge

__all__ = ["RULE_REJUDGED", "rejudge_bundle", "rejudge_result"]

RULE_REJUDGED = f"{RULE} (re-judged from a version-1 bundle: one process per number)"
_CV = re.compile(r"^(?:(?P<prefix>[^:;]+): )?CV [0-9.]+% exceeds [0-9.]+% and no explanation was recorded$")
_OLD_N = re.compile(r"n=\d+ is below the \d+ samples needed")
_PCT = re.compile(r"(?:^|\.)p(\d+(?:\.\d+)?)_ms$")


def _metric(name: str, m: dict[str, Any]) -> dict[str, Any]:
    parts = [p for p in (m.get("note") or "").split("; ") if p.strip()]
    dropped = [p for p in parts if _CV.match(p.strip())]
    kept = [p for p in parts if p not in dropped and not _OLD_N.search(p)]
    pct = _PCT.search(name)
    n = m.get("n")
    j = judge(n=n if pct and isinstance(n, int) else None,
              percentiles=(float(pct.group(1)) / 100.0,) if pct and isinstance(n, int) else (),
              invalid_because=kept if not m.get("valid", True) else (),
              notes=[f"{p} (the old rule's reason; a CV is jitter, never a reason now)" for p in dropped])
    j = Judgement(j.state, j.reasons, j.notes, RULE_REJUDGED)
    out = {k: v for k, v in m.items() if k != "note"}
    out.update(j.to_dict())
    out["valid"] = j.state is State.VALID
    out["note"] = ""
    return out


def rejudge_result(record: dict[str, Any]) -> dict[str, Any]:
    """A version-2 record from a version-1 one under today's rule (returns version 2 unchanged)."""
    if record.get("schema_version") != 1:
        return record
    out = dict(record)
    out["metrics"] = {name: _metric(name, m) for name, m in record.get("metrics", {}).items()}
    checks = []
    for c in record.get("checks", []):
        detail = c.get("detail", "")
        if "CV " in detail and "exceeds" in detail:
            parts = [p for p in re.split(r"; ", detail) if not _CV.match(p.strip())]
            detail = "; ".join(parts) + " (re-judged: the old rule's CV reason removed)"
            if c["name"].endswith("valid") and c["verdict"] == "FAIL" and not [p for p in parts if "result invalid" not in p]:
                c = dict(c, verdict="PASS")
        checks.append(dict(c, detail=detail))
    out["checks"] = checks
    out["schema_version"] = 2
    return out


def rejudge_bundle(runner_dir: Path) -> list[str]:
    """Re-judge every ``<recipe>/result.json`` under ``runner_dir``; return what changed, one line per metric."""
    changed: list[str] = []
    for path in sorted(runner_dir.glob("*/result.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        new = rejudge_result(record)
        if new is record:
            continue
        for name, m in new["metrics"].items():
            before = "valid" if record["metrics"][name].get("valid", True) else "invalid"
            if before != m["state"]:
                changed.append(f"{path.parent.name} {name}: {before} -> {m['state']}"
                               + (f" ({'; '.join(m['reasons'])})" if m["reasons"] else ""))
        atomic_write_json(path, new)
    return changed
