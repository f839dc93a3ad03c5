"""Checklists read as sentences: verdict and number first, evidence next, fine print folded, shared reasons once."""

from edgetiming.site.build import checklist_html

SHARED = "367 samples are fewer than the 368 a two-sided 95% interval for P99 needs"
CHECKS = [
    {"name": "det.fp32.p99-within-deadline", "verdict": "FAIL", "detail": "x",
     "sentence": "Detector fp32, P99 within 50 ms: FAIL, at least 52.3 ms",
     "evidence": "P99 = 55.1 ms, 95% interval [52.3, 60.2] ms", "fine_print": "rank 991 of n = 1,000",
     "reasons": [SHARED]},
    {"name": "det.dynamic.p99-within-deadline", "verdict": "NO_VERDICT", "detail": "y",
     "sentence": "Detector dynamic, P99 within 50 ms: no verdict, too few samples to bound it on both sides",
     "evidence": "P99 = 49 ms", "fine_print": "rank 360 of n = 367", "reasons": [SHARED, "throttled"]},
    {"name": "outputs-match", "verdict": "PASS", "detail": "largest difference 1e-6"},
]


def test_items_lead_with_the_sentence_and_fold_the_fine_print():
    html = "\n".join(checklist_html(CHECKS))
    first = html.index("<li>")
    item = html[first:html.index("</li>", first)]
    assert item.index("Detector fp32, P99 within 50 ms: FAIL, at least 52.3 ms") < item.index("P99 = 55.1 ms")
    assert item.index("P99 = 55.1 ms") < item.index("<details")
    assert "rank 991" in item[item.index("<details"):]
    assert "det.fp32.p99-within-deadline" in item[item.index("<details"):]


def test_a_reason_shared_by_several_items_is_said_once_above_them():
    html = "\n".join(checklist_html(CHECKS))
    assert html.count(SHARED) == 1 and html.index(SHARED) < html.index("<ul")
    assert "throttled" in html[html.index("Detector dynamic"):]  # its own reason stays with it
    assert "NO VERDICT" in html and "no verdict, too few samples" in html


def test_an_older_item_without_a_sentence_leads_with_its_name_in_words():
    html = "\n".join(checklist_html(CHECKS[2:]))
    assert "Outputs match: PASS" in html and "largest difference 1e-6" in html
    assert "more than one" not in html and "Several items" not in html
