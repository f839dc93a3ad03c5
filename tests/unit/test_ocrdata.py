"""ocrdata: rendered text with known truth, PP-OCR inputs, CTC decoding and scores."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from edgetiming.workload import ocrdata
from edgetiming.workload.ocrdata import (
    CtcDecoder,
    char_error_rate,
    count_regions,
    det_input,
    edit_distance,
    line_dataset,
    mask_iou,
    rec_input,
    render_line,
    render_page,
    score_detector,
    score_recognizer,
    text_mask,
)

needs_fonts = pytest.mark.skipif(not ocrdata.DEJAVU_DIR.is_dir(), reason="DejaVu fonts missing")


def test_public_names():
    assert sorted(ocrdata.__all__) == sorted(
        ["DEJAVU_DIR", "DEFAULT_FONTS", "WORDS", "CtcDecoder", "TextLine", "TextPage",
         "available_fonts", "char_error_rate", "count_regions", "det_batch", "det_input", "edit_distance",
         "line_dataset", "load_font", "mask_iou", "random_text", "rec_input", "render_line",
         "render_page", "score_detector", "score_recognizer", "text_mask"])


@needs_fonts
def test_doctests():
    result = doctest.testmod(ocrdata, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_edit_distance_and_cer():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "") == 0
    assert edit_distance("abc", "abc") == 0
    assert char_error_rate(["abc", ""], ["abc", "de"]) == pytest.approx(2 / 5)
    with pytest.raises(ValueError):
        char_error_rate(["a"], ["a", "b"])


def test_ctc_merges_repeats_then_drops_blanks():
    dec = CtcDecoder(["x", "y"])  # classes: blank, x, y, space
    assert dec.n_classes == 4
    steps = [0, 1, 1, 0, 1, 3, 3, 2, 0]  # _ x x _ x ' ' ' ' y _
    probs = np.eye(4, dtype=np.float32)[steps][None] * 0.9
    text, conf = dec.decode(probs)[0]
    assert text == "xx y"
    assert conf == pytest.approx(0.9)
    assert dec.decode(np.eye(4)[[0, 0]][None])[0] == ("", 0.0)
    with pytest.raises(ValueError, match="classes"):
        dec.decode(np.zeros((1, 3, 5)))


def test_ctc_matches_rapidocr_decoder():
    rapid = pytest.importorskip("rapidocr_onnxruntime.ch_ppocr_rec.utils")
    chars = ["a", "b", "c", "d"]
    ours, theirs = CtcDecoder(chars), rapid.CTCLabelDecode(character=list(chars))
    assert list(ours.classes) == theirs.character
    rng = np.random.default_rng(3)
    probs = rng.random((5, 40, 6)).astype(np.float32) ** 4
    for (t1, c1), (t2, c2) in zip(ours.decode(probs), theirs(probs)):
        assert t1 == t2
        assert c1 == pytest.approx(c2)


def test_det_input_shapes():
    img = np.full((90, 250, 3), 255, np.uint8)
    x = det_input(img, size=(320, 320))
    assert x.shape == (1, 3, 320, 320) and x.dtype == np.float32
    assert np.allclose(x, 1.0)  # white maps to +1
    y = det_input(img, limit_side_len=96)
    assert y.shape[2] % 32 == 0 and y.shape[3] % 32 == 0 and y.shape[2] == 96
    with pytest.raises(ValueError):
        det_input(img, limit_type="mean")


def test_rec_input_keeps_aspect_and_pads():
    img = np.zeros((24, 48, 3), np.uint8)  # aspect 2 -> 96 columns at height 48
    x = rec_input(img)
    assert x.shape == (1, 3, 48, 320)
    assert np.allclose(x[..., :96], -1.0) and np.allclose(x[..., 96:], 0.0)


def test_masks_and_regions():
    a = np.zeros((10, 10), bool)
    assert mask_iou(a, a) == 1.0
    b = a.copy()
    b[1:4, 2:8] = True
    assert mask_iou(a, b) == 0.0
    assert count_regions(b) == 1
    b[7:9, 1:3] = True
    assert count_regions(b) == 2
    assert count_regions(b, min_side_px=4) == 1  # the 2x2 block (3x3 dilated) is a speck
    probs = np.where(b, 0.4, 0.0)
    probs[1:4, 2:8] = 0.9
    assert count_regions(b, probs=probs) == 1  # a box of mean probability < 0.5 is dropped
    assert text_mask(np.full((1, 1, 4, 4), 0.5)).shape == (4, 4)


@needs_fonts
def test_line_dataset_is_seeded_and_fits():
    a, b = line_dataset(6, seed=4), line_dataset(6, seed=4)
    assert [x.text for x in a] == [x.text for x in b]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b))
    assert all(x.image.shape[1] / x.image.shape[0] <= 320 / 48 for x in a)
    assert all(x.text and x.text == x.text.strip() for x in a)


@needs_fonts
def test_page_boxes_hold_ink():
    page = render_page(np.random.default_rng(2), height=320, width=320)
    assert page.image.shape == (320, 320, 3)
    assert len(page.lines) == len(page.boxes) >= 3
    dark = page.image[..., 0] < 128
    for x0, y0, x1, y1 in page.boxes:
        assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 320
        assert dark[y0:y1, x0:x1].any()


@needs_fonts
def test_fp32_recognizer_reads_a_rendered_word():
    ort = pytest.importorskip("onnxruntime")
    from edgetiming.workload.models import resolve

    session = ort.InferenceSession(str(resolve("rapidocr:rec")), providers=["CPUExecutionProvider"])
    dec = CtcDecoder.from_model(session)
    assert dec.n_classes == session.get_outputs()[0].shape[2]
    font = ocrdata.available_fonts()[0]
    for word in ("latency", "Station 42"):
        img = render_line(word, font, size_px=32)
        (text, conf), = dec.decode(session.run(None, {"x": rec_input(img)})[0])
        assert text == word
        assert conf > 0.5
    assert CtcDecoder.from_model("rapidocr:rec").classes == dec.classes


@needs_fonts
def test_fp32_detector_finds_the_rendered_lines():
    ort = pytest.importorskip("onnxruntime")
    from edgetiming.workload.models import resolve

    session = ort.InferenceSession(str(resolve("rapidocr:det")), providers=["CPUExecutionProvider"])
    page = render_page(np.random.default_rng(7), n_lines=4)
    probs = session.run(None, {"x": det_input(page.image, size=(320, 320))})[0]
    mask = text_mask(probs)
    words = sum(len(line.split()) for line in page.lines)
    assert len(page.lines) <= count_regions(mask, probs=probs) <= words  # a wide space may split
    truth = np.zeros_like(mask)
    for x0, y0, x1, y1 in page.boxes:
        truth[y0:y1, x0:x1] = True
        assert mask[y0:y1, x0:x1].mean() > 0.2  # DB maps a shrunk kernel of each line
    assert (mask & truth).sum() / mask.sum() > 0.8  # and little outside the lines


@needs_fonts
def test_det_batch_is_one_rendered_page_repeated_at_the_exact_shape():
    x = ocrdata.det_batch([3, 3, 64, 96], np.random.default_rng(5))
    assert x.shape == (3, 3, 64, 96) and x.dtype == np.float32
    assert np.array_equal(x[0], x[2])  # the same page N times
    page = render_page(np.random.default_rng(5), height=64, width=96)
    assert np.array_equal(x[:1], det_input(page.image, size=(64, 96)))  # the same draws from the same seed


class _FakeSession:
    """Stands in for an InferenceSession: returns the output stored for each feed (by its first value)."""

    def __init__(self, outputs):
        self._outputs = outputs

    def get_inputs(self):
        return [type("Input", (), {"name": "x"})()]

    def run(self, _names, feed):
        return [self._outputs[float(feed["x"].flat[0])]]


def test_score_recognizer_counts_exact_lines_and_character_errors():
    dec = CtcDecoder(["a", "b"])
    one_hot = lambda seq: np.eye(4)[seq][None]  # classes: blank, a, b, space
    sess = _FakeSession({0.0: one_hot([1, 0, 2]), 1.0: one_hot([1, 1, 3, 2])})  # "ab", "a b"
    feeds = [np.zeros((1, 3, 2, 2), np.float32), np.ones((1, 3, 2, 2), np.float32)]
    s = score_recognizer(sess, feeds, ["ab", "abb"], dec)
    assert s["preds"] == ["ab", "a b"]
    assert s["edits"].tolist() == [0, 1] and s["n_exact"] == 1
    assert s["cer"] == pytest.approx(1 / 5)


def test_score_detector_compares_text_maps_with_the_reference():
    page = np.zeros((1, 1, 8, 8), np.float32)
    page[0, 0, 1:4, 1:5] = 0.9
    shifted = np.zeros_like(page)
    shifted[0, 0, 1:4, 3:7] = 0.9  # half of the 12 pixels overlap
    feeds = [np.zeros((1, 3, 8, 8), np.float32), np.ones((1, 3, 8, 8), np.float32)]
    ref = score_detector(_FakeSession({0.0: page, 1.0: page}), feeds)
    assert ref["mean_iou"] == 1.0 and ref["count_agree"] == 1.0 and ref["counts"].tolist() == [1, 1]
    s = score_detector(_FakeSession({0.0: page, 1.0: shifted}), feeds, ref)
    assert s["iou"].tolist() == [1.0, pytest.approx(6 / 18)]
    assert s["mean_iou"] == pytest.approx((1 + 6 / 18) / 2) and s["count_agree"] == 1.0
    s = score_detector(_FakeSession({0.0: page, 1.0: np.zeros_like(page)}), feeds, ref)
    assert s["counts"].tolist() == [1, 0] and s["count_agree"] == 0.5
