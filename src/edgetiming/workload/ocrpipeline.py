"""The PP-OCRv4 pipeline as separately timed stages: preprocess, detect, boxes, classify, recognize, postprocess.

rapidocr's own ``RapidOCR()`` returns only three times, folds pre- and
postprocessing into them, upscales small images and batches six lines into one
recognizer call. :class:`OcrStages` drives the three models directly with
rapidocr's box extraction (``DBPostProcess``, ``ClsPostProcess``) and the same
resizing, normalization and CTC decoding (:mod:`edgetiming.workload.ocrdata`),
one recognizer call per text line, each call's time kept in ``rec_calls_ns``.
Its :meth:`OcrStages.stages` feed :func:`edgetiming.measure.pipeline.run_pipeline`.
"""

from __future__ import annotations

import math
import time
from typing import Any

import cv2
import numpy as np
from rapidocr_onnxruntime.ch_ppocr_cls.utils import ClsPostProcess
from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess

from edgetiming.workload import ocrdata

__all__ = ["STAGE_NAMES", "OcrStages", "crop_line"]

STAGE_NAMES = ("preprocess", "detect", "boxes", "classify", "recognize", "postprocess")


def crop_line(img: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Perspective crop of one text box (tl, tr, br, bl), as rapidocr does."""
    pts = box.astype(np.float32)
    w = int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3])))
    h = int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2])))
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(pts, dst)
    return cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)


class OcrStages:
    """The stage functions over open det / cls / rec sessions; items are ``(image, truth)`` pairs."""

    def __init__(self, det: Any, cls: Any, rec: Any, *, det_limit_side_len: int = 480, rec_min_width: int = 320):
        self.det, self.cls, self.rec = det, cls, rec
        self.det_in, self.cls_in, self.rec_in = (s.get_inputs()[0].name for s in (det, cls, rec))
        self.det_limit_side_len, self.rec_min_width = det_limit_side_len, rec_min_width
        self.db_post = DBPostProcess(thresh=0.3, box_thresh=0.5, max_candidates=1000, unclip_ratio=1.6,
                                     score_mode="fast", use_dilation=True)
        self.cls_post = ClsPostProcess(["0", "180"])
        self.ctc = ocrdata.CtcDecoder.from_model(rec)
        self.rec_calls_ns: list[list[int]] = []  # per frame, the time of each recognizer call, in order

    def preprocess(self, item: tuple[np.ndarray, Any]) -> tuple[np.ndarray, np.ndarray]:
        img = item[0]
        return img, ocrdata.det_input(img, limit_side_len=self.det_limit_side_len, limit_type="max")

    def detect(self, state: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        img, x = state
        return img, self.det.run(None, {self.det_in: x})[0]

    def boxes(self, state: tuple[np.ndarray, np.ndarray]) -> list[np.ndarray]:
        img, prob = state
        found, _scores = self.db_post(prob, img.shape[:2])
        ordered = sorted(found, key=lambda b: (int(b[:, 1].min()) // 10, int(b[:, 0].min())))
        return [crop_line(img, b) for b in ordered]

    def classify(self, lines: list[np.ndarray]) -> list[np.ndarray]:
        if not lines:
            return lines
        batch = np.concatenate([ocrdata.rec_input(line, height=48, width=192) for line in lines])
        for i, (label, score) in enumerate(self.cls_post(self.cls.run(None, {self.cls_in: batch})[0])):
            if label == "180" and score > 0.9:
                lines[i] = cv2.rotate(lines[i], cv2.ROTATE_180)
        return lines

    def recognize(self, lines: list[np.ndarray]) -> list[np.ndarray]:
        perf, calls, outs = time.perf_counter_ns, [], []
        for line in lines:
            h, w = line.shape[:2]
            x = ocrdata.rec_input(line, height=48, width=max(self.rec_min_width, math.ceil(48 * w / h)))
            t0 = perf()
            outs.append(self.rec.run(None, {self.rec_in: x})[0])
            calls.append(perf() - t0)
        self.rec_calls_ns.append(calls)
        return outs

    def postprocess(self, outs: list[np.ndarray]) -> list[tuple[str, float]]:
        return [self.ctc.decode(o)[0] for o in outs]

    def stages(self) -> list[tuple[str, Any]]:
        """``(name, function)`` pairs in pipeline order."""
        return [(n, getattr(self, n)) for n in STAGE_NAMES]

    def __call__(self, item: tuple[np.ndarray, Any]) -> list[tuple[str, float]]:
        out: Any = item
        for _, fn in self.stages():
            out = fn(out)
        return out
