"""The synthetic models: seeded, identical bytes on every build, and they compute what they claim."""

from __future__ import annotations

import numpy as np
import pytest

from edgetiming.workload.synthetic import matmul_relu_chain


def test_same_arguments_give_the_same_bytes_and_another_seed_other_weights():
    assert matmul_relu_chain(4, 8, seed=1) == matmul_relu_chain(4, 8, seed=1)
    assert matmul_relu_chain(4, 8, seed=1) != matmul_relu_chain(4, 8, seed=2)


def test_it_computes_the_relu_chain_of_its_seeded_weights():
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    data = matmul_relu_chain(3, 16, layers=2, seed=0)
    weights = [numpy_helper.to_array(w) for w in onnx.load_from_string(data).graph.initializer]
    assert [w.shape for w in weights] == [(16, 16), (16, 16)]
    x = np.random.default_rng(9).standard_normal((3, 16)).astype(np.float32)
    want = np.maximum(np.maximum(x @ weights[0], 0) @ weights[1], 0)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": x})
    assert got.shape == (3, 16) and (got >= 0).all()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("args", [(0, 8), (4, 0)])
def test_an_empty_shape_is_refused(args):
    with pytest.raises(ValueError, match="at least 1"):
        matmul_relu_chain(*args)
