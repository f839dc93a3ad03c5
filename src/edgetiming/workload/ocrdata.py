"""Text images with known ground truth, and the PP-OCR pre- and postprocessing around them.

Accuracy claims need inputs whose answer is known. This module renders text
with Pillow and the DejaVu fonts (one line per image for the recognizer, a
page of lines with their boxes for the detector), turns images into the
tensors the PP-OCRv4 models of ``rapidocr-onnxruntime`` expect, and decodes
and scores what the models return:

- :func:`line_dataset`, :func:`render_line`, :func:`render_page`: images and their truth;
- :func:`rec_input`, :func:`det_input`: the same resizing and normalization as
  ``rapidocr_onnxruntime`` (``TextRecognizer.resize_norm_img``, ``DetPreProcess``);
- :class:`CtcDecoder`: greedy CTC decoding with the dictionary stored in the
  recognizer's metadata key ``character``, with rapidocr's conventions (index
  0 is the blank, a space is appended as the last class, repeats are merged
  before blanks are dropped);
- :func:`edit_distance`, :func:`char_error_rate`: recognition accuracy;
- :func:`text_mask`, :func:`mask_iou`, :func:`count_regions`: detection agreement;
- :func:`score_recognizer`, :func:`score_detector`: a session scored on rendered inputs.

Images are ``H x W x 3`` uint8 arrays. Ink and paper are grey levels, so the
RGB array is also a valid BGR one (what rapidocr and OpenCV read). Nothing
here imports onnxruntime or OpenCV.

Example
-------
>>> lines = line_dataset(2, seed=0)
>>> x = rec_input(lines[0].image)
>>> x.shape, x.dtype.name
((1, 3, 48, 320), 'float32')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from edgetiming.workload.models import resolve

__all__ = [
    "DEFAULT_FONTS",
    "DEJAVU_DIR",
    "WORDS",
    "CtcDecoder",
    "TextLine",
    "TextPage",
    "available_fonts",
    "char_error_rate",
    "count_regions",
    "det_batch",
    "det_input",
    "edit_distance",
    "line_dataset",
    "load_font",
    "mask_iou",
    "random_text",
    "rec_input",
    "render_line",
    "render_page",
    "score_detector",
    "score_recognizer",
    "text_mask",
]

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
DEFAULT_FONTS: tuple[str, ...] = (
    "DejaVuSans.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansCondensed.ttf",
    "DejaVuSans-Bold.ttf",
)
#: Vocabulary of the rendered lines: words an edge-inference dashboard or a receipt shows.
WORDS: tuple[str, ...] = (
    "latency", "edge", "deadline", "budget", "jitter", "frame", "stage", "camera", "device",
    "tail", "queue", "model", "sensor", "label", "invoice", "total", "Order", "Station",
    "Speed", "Exit", "North", "Coffee", "Parking", "Battery", "Warning", "Monday", "Price",
    "Room", "Gate", "Street",
)
_PAD_FRACTION = 0.2  # margin around a rendered line, as a share of the font size


# --------------------------------------------------------------------------- fonts and text
def available_fonts(
    font_dir: str | Path = DEJAVU_DIR, names: Sequence[str] = DEFAULT_FONTS
) -> list[Path]:
    """The font files of ``names`` that exist under ``font_dir``.

    Raises ``FileNotFoundError`` naming the fix when none exists.

    Example
    -------
    >>> available_fonts()[0].name  # doctest: +SKIP
    'DejaVuSans.ttf'
    """
    found = [Path(font_dir) / n for n in names if (Path(font_dir) / n).is_file()]
    if not found:
        raise FileNotFoundError(
            f"none of {', '.join(names)} is under {font_dir}: install the DejaVu fonts "
            "(`apt-get install fonts-dejavu-core`) or pass font_dir"
        )
    return found


def load_font(path: str | Path, size_px: int) -> ImageFont.FreeTypeFont:
    """A TrueType font at ``size_px`` pixels (Pillow's ``ImageFont.truetype``)."""
    return ImageFont.truetype(str(path), int(size_px))


def random_text(
    rng: np.random.Generator,
    *,
    min_words: int = 1,
    max_words: int = 3,
    words: Sequence[str] = WORDS,
) -> str:
    """A short line: ``min_words``..``max_words`` tokens, words or numbers, single-spaced.

    About one token in four is a number (an integer, a decimal or a time), so
    digits and punctuation are exercised as well as letters.

    Example
    -------
    >>> random_text(np.random.default_rng(0))
    'Exit deadline 165'
    """
    tokens = []
    for _ in range(int(rng.integers(min_words, max_words + 1))):
        kind = rng.random()
        if kind < 0.75:
            tokens.append(str(words[int(rng.integers(len(words)))]))
        elif kind < 0.85:
            tokens.append(str(rng.integers(0, 10_000)))
        elif kind < 0.95:
            tokens.append(f"{rng.random() * 100:.1f}")
        else:
            tokens.append(f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}")
    return " ".join(tokens)


@dataclass(frozen=True)
class TextLine:
    """One rendered line: the image (``H x W x 3`` uint8) and the text it shows."""

    text: str
    image: np.ndarray
    font: str
    size_px: int


def render_line(
    text: str,
    font_path: str | Path,
    *,
    size_px: int = 32,
    ink: int = 0,
    paper: int = 255,
    padding_px: int | None = None,
) -> np.ndarray:
    """Render ``text`` tightly (plus a margin) in grey ``ink`` on grey ``paper``.

    Example
    -------
    >>> img = render_line("edge 42", available_fonts()[0], size_px=30)  # doctest: +SKIP
    >>> img.dtype.name, img.shape[2]  # doctest: +SKIP
    ('uint8', 3)
    """
    font = load_font(font_path, size_px)
    pad = round(_PAD_FRACTION * size_px) if padding_px is None else int(padding_px)
    left, top, right, bottom = font.getbbox(text)
    width, height = max(1, right - left) + 2 * pad, max(1, bottom - top) + 2 * pad
    img = Image.new("RGB", (width, height), (paper,) * 3)
    ImageDraw.Draw(img).text((pad - left, pad - top), text, fill=(ink,) * 3, font=font)
    return np.asarray(img, dtype=np.uint8).copy()


def line_dataset(
    n: int,
    *,
    seed: int = 0,
    fonts: Sequence[str | Path] | None = None,
    size_px: tuple[int, int] = (24, 40),
    max_aspect: float = 320 / 48,
    noise_std: float = 6.0,
) -> list[TextLine]:
    """``n`` rendered lines with known text, varied in font, size, contrast and noise.

    Each line's width/height ratio stays at or under ``max_aspect`` (the
    recognizer's 320/48 by default), so no line is squeezed horizontally; a
    text that would be wider is drawn again with fewer words. Seeded: the
    same arguments give the same images.

    Example
    -------
    >>> [line.text for line in line_dataset(3, seed=1)]
    ['31.2', '2251', 'frame queue']
    """
    rng = np.random.default_rng(seed)
    font_paths = [Path(f) for f in fonts] if fonts else available_fonts()
    out: list[TextLine] = []
    while len(out) < n:
        font = font_paths[int(rng.integers(len(font_paths)))]
        size = int(rng.integers(size_px[0], size_px[1] + 1))
        ink, paper = int(rng.integers(0, 70)), int(rng.integers(190, 256))
        text = random_text(rng)
        img = render_line(text, font, size_px=size, ink=ink, paper=paper)
        if img.shape[1] / img.shape[0] > max_aspect:
            continue
        if noise_std > 0:
            noise = rng.normal(0.0, noise_std, img.shape[:2])[:, :, None]
            img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
        out.append(TextLine(text, img, font.name, size))
    return out


@dataclass(frozen=True)
class TextPage:
    """A page of text lines: the image, each line's text and box ``[x0, y0, x1, y1]`` (pixels)."""

    image: np.ndarray
    lines: tuple[str, ...]
    boxes: np.ndarray


def render_page(
    rng: np.random.Generator,
    *,
    height: int = 320,
    width: int = 320,
    n_lines: int | None = None,
    fonts: Sequence[str | Path] | None = None,
) -> TextPage:
    """A page with a few lines of text at random positions, sizes and fonts, with their boxes.

    Lines that would not fit in the width are shortened to fewer words; rows
    never overlap. The boxes are the tight ink boxes Pillow reports.

    Example
    -------
    >>> page = render_page(np.random.default_rng(0))  # doctest: +SKIP
    >>> page.image.shape, len(page.lines) == len(page.boxes)  # doctest: +SKIP
    ((320, 320, 3), True)
    """
    font_paths = [Path(f) for f in fonts] if fonts else available_fonts()
    paper = int(rng.integers(200, 256))
    img = Image.new("RGB", (width, height), (paper,) * 3)
    draw = ImageDraw.Draw(img)
    rows = n_lines or int(rng.integers(3, 7))
    pitch = height // rows
    texts, boxes = [], []
    for row in range(rows):
        size = int(np.clip(pitch * rng.uniform(0.4, 0.7), 10, 64))
        font = load_font(font_paths[int(rng.integers(len(font_paths)))], size)
        text = random_text(rng, max_words=4)
        while True:
            left, top, right, bottom = font.getbbox(text)
            if right - left <= width - 8 or " " not in text:
                break
            text = text.rsplit(" ", 1)[0]
        slack = max(0, width - 4 - (right - left))
        x = 4 + int(rng.integers(0, slack // 2 + 1))
        y = row * pitch + max(0, (pitch - (bottom - top)) // 2)
        ink = int(rng.integers(0, 80))
        draw.text((x - left, y - top), text, fill=(ink,) * 3, font=font)
        texts.append(text)
        boxes.append([x, y, min(width, x + right - left), min(height, y + bottom - top)])
    arr = np.asarray(img, dtype=np.uint8).copy()
    return TextPage(arr, tuple(texts), np.asarray(boxes, dtype=np.int32).reshape(-1, 4))


# --------------------------------------------------------------------------- model inputs
def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    pil = Image.fromarray(np.ascontiguousarray(image))
    return np.asarray(pil.resize((int(width), int(height)), Image.BILINEAR), dtype=np.float32)


def rec_input(image: np.ndarray, *, height: int = 48, width: int = 320) -> np.ndarray:
    """The recognizer's input for one line image: ``1 x 3 x height x width`` float32 in [-1, 1].

    As rapidocr's ``resize_norm_img`` with a batch of one: scale to ``height``
    keeping the aspect ratio (capped at ``width``), normalize ``x/255*2-1``,
    pad the right with zeros.

    Example
    -------
    >>> rec_input(np.full((24, 60, 3), 255, np.uint8)).shape
    (1, 3, 48, 320)
    """
    h, w = image.shape[:2]
    resized_w = min(width, math.ceil(height * w / h))
    x = _resize(image, resized_w, height).transpose(2, 0, 1) / 255.0
    out = np.zeros((1, 3, height, width), dtype=np.float32)
    out[0, :, :, :resized_w] = (x - 0.5) / 0.5
    return out


def det_input(
    image: np.ndarray,
    *,
    size: tuple[int, int] | None = None,
    limit_side_len: int = 736,
    limit_type: str = "min",
) -> np.ndarray:
    """The detector's input for one image: ``1 x 3 x H x W`` float32, H and W multiples of 32.

    With ``size=(H, W)`` the image is resized to exactly that (a fixed-shape
    deployment); otherwise as rapidocr's ``DetPreProcess``: scale so the
    shorter (``limit_type="min"``) or longer (``"max"``) side meets
    ``limit_side_len``, round each side to a multiple of 32. Normalization is
    ``(x/255 - 0.5) / 0.5`` per channel, like rapidocr's default config.

    Example
    -------
    >>> det_input(np.zeros((100, 200, 3), np.uint8), limit_side_len=64).shape  # no upscaling
    (1, 3, 96, 192)
    """
    h, w = image.shape[:2]
    if size is not None:
        rh, rw = int(size[0]), int(size[1])
    else:
        if limit_type == "max":
            ratio = limit_side_len / max(h, w) if max(h, w) > limit_side_len else 1.0
        elif limit_type == "min":
            ratio = limit_side_len / min(h, w) if min(h, w) < limit_side_len else 1.0
        else:
            raise ValueError(f"limit_type must be 'min' or 'max', got {limit_type!r}")
        rh = max(32, int(round(int(h * ratio) / 32) * 32))
        rw = max(32, int(round(int(w * ratio) / 32) * 32))
    x = (_resize(image, rw, rh) / 255.0 - 0.5) / 0.5
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def det_batch(input_shape: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """A detector input of fixed ``input_shape`` (N, C, H, W): one page rendered with ``rng``
    (:func:`render_page`), made the detector's input at exactly H x W (:func:`det_input`) and
    repeated N times; float32.

    Example
    -------
    >>> det_batch([2, 3, 64, 96], np.random.default_rng(0)).shape
    (2, 3, 64, 96)
    """
    n, _, h, w = (int(v) for v in input_shape)
    page = render_page(rng, height=h, width=w)
    return np.repeat(det_input(page.image, size=(h, w)), n, axis=0).astype(np.float32)


# --------------------------------------------------------------------------- CTC decoding
class CtcDecoder:
    """Greedy CTC decoding of the PP-OCR recognizer's ``N x T x C`` output.

    The classes are ``["blank"] + characters + [" "]``, exactly as rapidocr's
    ``CTCLabelDecode`` builds them: index 0 is the CTC blank, the space is the
    last class. Decoding takes the arg-max class per time step, merges
    consecutive repeats, then drops blanks (so a blank between two equal
    characters keeps both). The confidence is the mean of the kept steps'
    maximum probability (0.0 for an empty result).

    Example
    -------
    >>> dec = CtcDecoder(["a", "b"])
    >>> probs = np.eye(4)[[1, 1, 0, 1, 2, 3, 2]][None]  # a a _ a b ' ' b
    >>> dec.decode(probs)[0][0]
    'aab b'
    """

    def __init__(self, characters: Sequence[str]) -> None:
        self.classes: tuple[str, ...] = ("blank", *characters, " ")

    @classmethod
    def from_model(cls, model: Any, key: str = "character") -> CtcDecoder:
        """Read the dictionary from a model's metadata ``key``.

        ``model`` is an ``onnxruntime.InferenceSession``, an ``onnx.ModelProto``,
        or a path / ``rapidocr:rec`` alias.
        """
        if hasattr(model, "get_modelmeta"):
            meta = dict(model.get_modelmeta().custom_metadata_map)
        else:
            # imported here: onnx costs ~770 ms to import (-X importtime, 2-vCPU runner)
            import onnx

            if not isinstance(model, onnx.ModelProto):
                model = onnx.load(str(resolve(model)), load_external_data=False)
            meta = {p.key: p.value for p in model.metadata_props}
        if key not in meta:
            raise KeyError(f"the model has no metadata key {key!r}: pass the dictionary to "
                           "CtcDecoder(characters) instead")
        return cls(meta[key].splitlines())

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def decode(self, probs: np.ndarray) -> list[tuple[str, float]]:
        """``(text, confidence)`` for each item of an ``N x T x C`` probability array."""
        probs = np.asarray(probs)
        if probs.ndim != 3:
            raise ValueError(f"expected N x T x C probabilities, got shape {probs.shape}")
        if probs.shape[2] != self.n_classes:
            raise ValueError(f"the output has {probs.shape[2]} classes but the dictionary gives "
                             f"{self.n_classes}: is this the recognizer the dictionary came from?")
        idx, best = probs.argmax(axis=2), probs.max(axis=2)
        out = []
        for seq, conf in zip(idx, best):
            keep = np.ones(seq.size, dtype=bool)
            keep[1:] = seq[1:] != seq[:-1]
            keep &= seq != 0
            text = "".join(self.classes[i] for i in seq[keep])
            out.append((text, float(conf[keep].mean()) if keep.any() else 0.0))
        return out


# --------------------------------------------------------------------------- scoring
def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions each cost 1).

    Example
    -------
    >>> edit_distance("latency", "latncy"), edit_distance("", "abc")
    (1, 3)
    """
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_error_rate(predictions: Sequence[str], truths: Sequence[str]) -> float:
    """Corpus character error rate: total edit distance over total ground-truth characters.

    Example
    -------
    >>> char_error_rate(["edge", "tal"], ["edge", "tail"])
    0.125
    """
    if len(predictions) != len(truths):
        raise ValueError("predictions and truths differ in length")
    chars = sum(len(t) for t in truths)
    if chars == 0:
        raise ValueError("the ground truth is empty")
    return sum(edit_distance(p, t) for p, t in zip(predictions, truths)) / chars


def text_mask(probs: np.ndarray, thresh: float = 0.3) -> np.ndarray:
    """The detector's binarized text map (``probs > thresh``, rapidocr's default 0.3), 2-D bool.

    Accepts ``N x 1 x H x W`` (the first item is used), ``1 x H x W`` or ``H x W``.
    """
    p = np.asarray(probs)
    while p.ndim > 2:
        p = p[0]
    return p > thresh


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks; 1.0 when both are empty.

    Example
    -------
    >>> mask_iou(np.array([1, 1, 0], bool), np.array([0, 1, 1], bool))
    0.3333333333333333
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    union = int(np.logical_or(a, b).sum())
    return 1.0 if union == 0 else int(np.logical_and(a, b).sum()) / union


def count_regions(
    mask: np.ndarray,
    *,
    probs: np.ndarray | None = None,
    min_side_px: int = 3,
    box_thresh: float = 0.5,
) -> int:
    """Text regions in a binarized map, filtered the way rapidocr filters its boxes.

    rapidocr dilates the map with a 2x2 kernel, takes each contour's box, drops
    boxes whose short side is under 3 pixels and, with the probability map,
    boxes whose mean probability is under ``box_thresh`` (0.5). This counts
    8-connected components of the dilated mask with the same two filters,
    scoring the mean probability over each component's axis-aligned box (rapidocr
    uses the minimum-area rotated box), so specks between words are not counted.

    Example
    -------
    >>> m = np.zeros((8, 8), bool); m[1:3, 1:4] = True; m[5:7, 2:6] = True
    >>> count_regions(m)
    2
    """
    # imported here: scipy.ndimage costs ~300 ms to import (-X importtime, 2-vCPU runner)
    from scipy import ndimage

    m = np.asarray(mask, dtype=bool)
    while m.ndim > 2:
        m = m[0]
    dilated = ndimage.binary_dilation(m, structure=np.ones((2, 2), bool))
    labels, _ = ndimage.label(dilated, structure=np.ones((3, 3), bool))
    p = None if probs is None else np.asarray(probs).reshape(-1, *m.shape)[0]
    count = 0
    for i, sl in enumerate(ndimage.find_objects(labels), 1):
        if sl is None or min(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start) < min_side_px:
            continue
        if p is not None and float(p[sl].mean()) < box_thresh:
            continue
        count += 1
    return count


def score_recognizer(session: Any, feeds: Sequence[np.ndarray], truth: Sequence[str],
                     decoder: CtcDecoder) -> dict[str, Any]:
    """Read each feed with ``session`` (first input, first output, first item) and score it against ``truth``.

    Returns ``preds`` (decoded text), ``edits`` (edit distance per line), ``n_exact`` (lines read
    exactly, no normalization) and ``cer`` (total edits over total characters).
    """
    name = session.get_inputs()[0].name
    preds = [decoder.decode(session.run(None, {name: x})[0][:1])[0][0] for x in feeds]
    edits = np.array([edit_distance(p, t) for p, t in zip(preds, truth, strict=True)])
    return {"preds": preds, "edits": edits, "n_exact": sum(p == t for p, t in zip(preds, truth)),
            "cer": float(edits.sum() / sum(len(t) for t in truth))}


def score_detector(session: Any, feeds: Sequence[np.ndarray],
                   reference: dict[str, Any] | None = None) -> dict[str, Any]:
    """Binarized text maps of ``session`` on each feed, against ``reference`` (an earlier result of this
    function, FP32's) or, without one, against themselves.

    Returns ``masks``, ``counts`` (text regions per page, :func:`count_regions`), ``iou`` (per page,
    with the reference's mask), ``mean_iou`` and ``count_agree`` (share of pages whose region count
    equals the reference's).
    """
    name = session.get_inputs()[0].name
    probs = [session.run(None, {name: x})[0] for x in feeds]
    masks = [text_mask(p) for p in probs]
    counts = np.array([count_regions(m, probs=p) for m, p in zip(masks, probs)])
    ref_masks, ref_counts = (masks, counts) if reference is None else (reference["masks"], reference["counts"])
    iou = np.array([mask_iou(a, b) for a, b in zip(ref_masks, masks, strict=True)])
    return {"masks": masks, "counts": counts, "iou": iou, "mean_iou": float(iou.mean()),
            "count_agree": float(np.mean(counts == ref_counts))}
