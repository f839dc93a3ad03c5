"""workload.quantize.make_variants: every INT8 variant written, timed and loadable; a failure reported, not raised."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edgetiming.workload.convnet import he_weights, to_onnx
from edgetiming.workload.quantize import make_variants

SHAPE = [1, 3, 16, 16]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("fp32") / "net.onnx"
    onnx.save(to_onnx(he_weights(3, [8, 8], 4, seed=0), [2, 1], SHAPE), str(path))
    return path


def test_each_variant_is_written_timed_and_loads(model, tmp_path):
    calib = [np.random.default_rng(i).random(SHAPE, dtype=np.float32) for i in range(3)]
    made = make_variants(model, tmp_path, "net", ["fp32", "dynamic", "static-per-channel"], calib)
    assert made.failed == {}
    assert made.paths == {"fp32": model, "dynamic": tmp_path / "net-dynamic.onnx",
                          "static-per-channel": tmp_path / "net-static-per-channel.onnx"}
    assert set(made.build_s) == {"pre-process", "dynamic", "static-per-channel"}
    assert all(t > 0 for t in made.build_s.values())
    ops = {n.op_type for n in onnx.load(str(made.paths["static-per-channel"])).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert made.size_mb["fp32"] == pytest.approx(model.stat().st_size / 1e6)
    for path in made.paths.values():
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert sess.run(None, {"x": calib[0]})[0].shape == (1, 4)


def test_a_variant_that_cannot_be_made_is_reported_and_the_others_still_made(model, tmp_path):
    made = make_variants(model, tmp_path, "net", ["fp32", "static-per-tensor", "dynamic"])  # no calibration inputs
    assert list(made.paths) == ["fp32", "dynamic"]
    assert made.failed["static-per-tensor"].startswith("ValueError: static-per-tensor needs calibration inputs")


def test_fp32_alone_makes_nothing(model, tmp_path):
    made = make_variants(model, tmp_path, "net", ["fp32"])
    assert made.paths == {"fp32": model} and made.build_s == {} and not any(tmp_path.iterdir())
