"""Guide claims are evaluated per runner from intervals; contradicted ones are listed and fail --strict."""

from edgetiming.site.claims import Claim, contradictions, evaluate, find_claims, render


def _claim(op, ref, metric="m"):
    return Claim("guides/x.md", 3, "recipe", metric, op, ref, "B is faster than A", "{{ claim(...) }}")


RUNNERS = {
    "fast-box": {"m": {"value": 0.7, "ci": [0.6, 0.8], "state": "valid"}},
    "slow-box": {"m": {"value": 1.02, "ci": [0.95, 1.1], "state": "valid"}},
    "bad-box": {"m": {"value": 0.5, "ci": [0.4, 0.6], "state": "invalid", "reasons": ["throttled"]}},
    "no-box": None,
}


def test_each_runner_gets_its_own_finding():
    found = {f.runner: f for f in evaluate(_claim("<", 1.0), RUNNERS)}
    assert found["fast-box"].holds is True
    assert found["slow-box"].holds is False and found["slow-box"].why == "no detectable difference"
    assert found["bad-box"].holds is None and "throttled" in found["bad-box"].why
    assert found["no-box"].holds is None and found["no-box"].why == "not measured"
    same = {f.runner: f.holds for f in evaluate(_claim("~", 1.0), RUNNERS)}
    assert same["slow-box"] is True and same["fast-box"] is False


def test_only_the_primary_runner_decides_what_fails_and_the_message_names_page_and_numbers():
    findings = evaluate(_claim("<", 1.0), RUNNERS)
    assert contradictions(_claim("<", 1.0), findings, "fast-box") == []
    (msg,) = contradictions(_claim("<", 1.0), findings, "slow-box")
    assert msg.startswith('docs/guides/x.md:3: claim "B is faster than A" is contradicted on slow-box')
    assert "1.02 [0.950, 1.10] (no detectable difference), not < 1" in msg
    (unsupported,) = contradictions(_claim("<", 1.0), findings, "bad-box")
    assert "is not supported on bad-box" in unsupported


def test_the_page_says_what_each_runner_found_and_when_they_disagree():
    claim = _claim("<", 1.0)
    text = render(claim, evaluate(claim, {k: v for k, v in RUNNERS.items() if k in ("fast-box", "slow-box")}),
                  recipe_link="[recipe](r.md)", runner_link=lambda r: r)
    assert text.startswith("B is faster than A")
    assert "on fast-box 0.700 [0.600, 0.800] (as stated)" in text
    assert "on slow-box 1.02 [0.950, 1.10]: no detectable difference (not as stated)" in text
    assert "The runners disagree: run [recipe](r.md) on your device" in text


def test_claims_are_found_with_their_line_and_malformed_ones_reported(tmp_path):
    (tmp_path / "guides").mkdir()
    (tmp_path / "guides" / "a.md").write_text(
        'intro\n{{ claim("q", "det.ratio", "< 1", "INT8 is faster") }} and more\n'
        '{{ claim("q", "det.ratio", "faster", "bad") }}\n')
    claims, problems = find_claims(tmp_path)
    assert [(c.page, c.line, c.recipe, c.metric, c.op, c.ref, c.text) for c in claims] == [
        ("guides/a.md", 2, "q", "det.ratio", "<", 1.0, "INT8 is faster")]
    assert problems == ['docs/guides/a.md:3: a claim must read {{ claim("recipe", "metric", "< 1", "the sentence") }} '
                        "on one line (comparison one of <, >, ~ and a number)"]
