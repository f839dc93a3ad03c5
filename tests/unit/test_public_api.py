"""The public surface is small and pinned."""

import edgetiming


def _old_public_names():
    assert edgetiming.__all__ == [
        "__version__", "coldstart", "compare", "figures", "jitter", "measure", "models",
        "openloop", "pipeline", "report", "resources", "stats", "steady",
    ]
    for name in edgetiming.__all__:
        assert getattr(edgetiming, name) is not None


def test_report_api():
    from edgetiming.results import report

    assert report.__all__ == ["OUTPUT_ENV", "VERDICTS", "check", "estimate", "figure", "metric", "output_dir", "samples",
                              "slo_check"]
