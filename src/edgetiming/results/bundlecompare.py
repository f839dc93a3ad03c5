"""``edgetiming compare``: your result against the site's, metric by metric and sample by sample.

Each side is a results bundle: a ``result.json``, the bundle folder holding
it, or a ``.zip`` of that folder as the site offers for download. Metrics with
the same name are listed side by side; raw samples with the same name (latency
in ns) are compared with :func:`edgetiming.stats.compare.compare_runs` at P50 and
P99, which says "slower", "faster", "same" or "inconclusive" with an interval.

Example
-------
>>> from edgetiming.results.bundlecompare import compare_bundles  # doctest: +SKIP
>>> print(compare_bundles("site.zip", "results/my-board/characterize-latency").text())  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgetiming.results import history, report, store
from edgetiming.results.result import LEGACY_RULE_LABEL, Result, format_value
from edgetiming.stats import compare

__all__ = ["Bundle", "BundleComparison", "compare_bundles", "load_bundle", "zip_bundle"]


@dataclass
class Bundle:
    """A result and its raw samples, wherever they came from."""

    label: str
    result: Result
    samples: dict[str, np.ndarray]


def zip_bundle(bundle_dir: Path, result: Result) -> bytes:
    """The bundle as a zip: ``result.json`` plus its samples (no notebook, no figures)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in ("result.json",):
            info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
            zf.writestr(info, (bundle_dir / name).read_bytes())
        for entry in result.samples:
            arc = f"{result.run_dir}/{entry['path']}"
            info = zipfile.ZipInfo(arc, date_time=(2000, 1, 1, 0, 0, 0))
            zf.writestr(info, (bundle_dir / result.run_dir / entry["path"]).read_bytes())
    return buf.getvalue()


def load_bundle(where: str | Path) -> Bundle:
    """Read a bundle from a result.json, its folder, or a zip; raise StoreError with the fix."""
    path = Path(where)
    if path.suffix == ".zip":
        try:
            zf = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise store.StoreError(f"{path}: not a readable zip ({exc}); download the bundle again") from None
        with zf:
            try:
                record = json.loads(zf.read("result.json"))
            except KeyError:
                raise store.StoreError(f"{path}: holds no result.json; it is not an edgetiming bundle") from None
            store.validate_record("result", record, where=f"{path}!result.json")
            result = Result.from_dict(record)
            samples = {}
            for entry in result.samples:
                data = zf.read(f"{result.run_dir}/{entry['path']}")
                samples[entry["name"]] = report.decode_samples(data, where=f"{path}!{result.run_dir}/{entry['path']}")
        return Bundle(f"{path.name} ({result.runner})", result, samples)
    result_path = path if path.name == "result.json" else path / "result.json"
    result = Result.load(result_path, verify=True)
    samples = {
        e["name"]: report.decode_samples((result_path.parent / result.run_dir / e["path"]).read_bytes(),
                                         where=result_path.parent / result.run_dir / e["path"])
        for e in result.samples
    }
    return Bundle(f"{result_path.parent} ({result.runner})", result, samples)


@dataclass
class BundleComparison:
    a: Bundle
    b: Bundle
    metrics: list[tuple[str, Any, Any, str]] = field(default_factory=list)
    samples: list[tuple[str, float, compare.Comparison]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: (metric, B/A over processes, whose the step is, why) for metrics both bundles timed beside the sentinel
    whose: list[tuple[str, float, str, str]] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"A: {self.a.label}, {self.a.result.mode} run {self.a.result.started_at}",
                 f"B: {self.b.label}, {self.b.result.mode} run {self.b.result.started_at}"]
        lines += [f"note: {n}" for n in self.notes]
        if self.samples:
            lines += ["", f"{'samples':<28} {'pct':>5} {'A (ms)':>10} {'B (ms)':>10} {'B/A':>7}  {'95% CI':<15} verdict"]
            for name, p, c in self.samples:
                ci = f"[{c.lower:.2f}, {c.upper:.2f}]" if np.isfinite(c.upper) else "[unbounded]"
                lines.append(f"{name:<28} {'P' + format(p * 100, 'g'):>5} {c.a.value:>10.3f} {c.b.value:>10.3f} "
                             f"{c.ratio:>7.2f}  {ci:<15} {c.verdict}")
        if self.whose:
            lines += ["", "split by the sentinel timed in the same processes (model, machine or unclear):"]
            lines += [f"{name:<36} B/A x{ratio:.3f}  {who}: {why}" for name, ratio, who, why in self.whose]
        if self.metrics:
            lines += ["", f"{'metric':<36} {'A':>14} {'B':>14}  unit"]
            for name, va, vb, unit in self.metrics:
                lines.append(f"{name:<36} {_show(va):>14} {_show(vb):>14}  {unit}")
        return "\n".join(lines)


def _show(value: Any) -> str:
    return "-" if value is None else format_value(value)


def compare_bundles(a: str | Path, b: str | Path, *, percentiles: tuple[float, ...] = (0.5, 0.99),
                    min_effect: float = 0.05) -> BundleComparison:
    """Compare bundle B against bundle A (A is the reference, e.g. the site's)."""
    ba, bb = load_bundle(a), load_bundle(b)
    out = BundleComparison(ba, bb)
    if ba.result.recipe != bb.result.recipe:
        out.notes.append(f"different recipes: {ba.result.recipe} against {bb.result.recipe}")
    if ba.result.recipe_version != bb.result.recipe_version:
        out.notes.append("different recipe versions (code or parameters differ): compare with care")
    if ba.result.legacy or bb.result.legacy:
        out.notes.append(f"a bundle's metrics were {LEGACY_RULE_LABEL}: their states are not comparable")
    if "quick" in (ba.result.mode, bb.result.mode):
        out.notes.append("a quick run is a preview: its small budgets make intervals wide")
    for name in sorted(set(ba.samples) & set(bb.samples)):
        units = {e["name"]: e["unit"] for e in ba.result.samples}
        if units.get(name) != "ns":
            continue
        for p in percentiles:
            try:
                out.samples.append((name, p, compare.compare_runs(ba.samples[name], bb.samples[name], percentile=p,
                                                                  min_effect=min_effect)))
            except ValueError as exc:
                out.notes.append(f"{name} P{p * 100:g}: {exc}")
    for name in sorted(set(ba.result.metrics) & set(bb.result.metrics)):
        ma, mb = ba.result.metrics[name], bb.result.metrics[name]
        who, why = history.whose_step(ma.to_dict(), mb.to_dict(), min_effect=min_effect)
        if who:
            ratio = float(np.exp(np.mean(np.log(mb.per_run)) - np.mean(np.log(ma.per_run))))
            out.whose.append((name, ratio, who, why))
    for name in sorted(set(ba.result.metrics) | set(bb.result.metrics)):
        ma, mb = ba.result.metrics.get(name), bb.result.metrics.get(name)
        out.metrics.append((name, ma.value if ma else None, mb.value if mb else None,
                            (ma.unit if ma else "") or (mb.unit if mb else "")))
    return out
