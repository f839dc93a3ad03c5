"""workload.convnet: the pruning recipe's plain convolutional network, built with onnx.helper."""

import doctest

import numpy as np
import onnxruntime as ort
import pytest

from edgetiming.workload import convnet
from edgetiming.workload.convnet import he_weights, to_onnx


def test_doctests():
    assert doctest.testmod(convnet).failed == 0


def test_weights_are_seeded_and_shaped_per_layer():
    a, b = he_weights(3, [8, 16], 10, seed=1), he_weights(3, [8, 16], 10, seed=1)
    assert [w.shape for w, _ in a] == [(8, 3, 3, 3), (16, 8, 3, 3), (10, 16)]
    assert [bias.shape for _, bias in a] == [(8,), (16,), (10,)]
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a, b))
    assert not np.array_equal(a[0][0], he_weights(3, [8, 16], 10, seed=2)[0][0])
    assert all(w.dtype == np.float32 for w, _ in a)


def test_the_model_runs_and_computes_conv_relu_pool_linear():
    params = he_weights(3, [4], 5, seed=0)
    model = to_onnx(params, [2], [1, 3, 8, 8])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, 8, 8), dtype=np.float32)
    y = sess.run(None, {"x": x})[0]
    assert y.shape == (1, 5)
    # the same network in numpy: 3x3 convolution, stride 2, padding 1, ReLU, mean, linear
    (w, b), (wf, bf) = params
    xp = np.pad(x[0], ((0, 0), (1, 1), (1, 1)))
    conv = np.array([[[np.sum(xp[:, i:i + 3, j:j + 3] * w[o]) + b[o] for j in range(0, 8, 2)]
                      for i in range(0, 8, 2)] for o in range(4)])
    expected = wf @ np.maximum(conv, 0).mean(axis=(1, 2)) + bf
    assert np.allclose(y[0], expected, atol=1e-4)


def test_one_stride_per_convolution():
    with pytest.raises(ValueError, match="one stride per convolution"):
        to_onnx(he_weights(3, [4, 4], 5), [1], [1, 3, 8, 8])
