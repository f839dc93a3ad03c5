"""A plain convolutional network built with ``onnx.helper``, for recipes that need exact control of its shape.

The pruning recipe narrows and sparsifies this network and times every version; what it
learns depends on the structure (widths, strides), not on trained weights, so the weights
are random (He initialization, seeded). The network: 3x3 convolutions (padding 1) each
followed by ReLU, global average pooling, a flatten and a linear layer. Weights are a list
of ``(W, b)`` pairs, one per convolution (``W`` is ``out x in x 3 x 3``) and the classifier
last (``W`` is ``classes x in``).

Example
-------
>>> params = he_weights(3, [8, 16], 10, seed=0)
>>> [w.shape for w, _ in params]
[(8, 3, 3, 3), (16, 8, 3, 3), (10, 16)]
>>> to_onnx(params, [2, 1], [1, 3, 32, 32]).graph.output[0].name
'y'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["he_weights", "to_onnx"]


def he_weights(c_in: int, channels: Sequence[int], n_classes: int, *,
               seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """He-initialized float32 weights: a 3x3 convolution per entry of ``channels``, then the classifier."""
    g = np.random.default_rng(seed)
    params, cin = [], c_in
    for cout in channels:
        params.append((g.normal(0, math.sqrt(2 / (cin * 9)), (cout, cin, 3, 3)).astype(np.float32),
                       g.normal(0, 0.01, cout).astype(np.float32)))
        cin = cout
    params.append((g.normal(0, math.sqrt(1 / cin), (n_classes, cin)).astype(np.float32),
                   np.zeros(n_classes, np.float32)))
    return params


def to_onnx(params: Sequence[tuple[np.ndarray, np.ndarray]], strides: Sequence[int], input_shape: Sequence[int],
            name: str = "convnet") -> Any:
    """The network of ``params`` as a checked ``onnx.ModelProto`` (opset 13): input ``x`` of
    ``input_shape`` (N x C x H x W), output ``y`` (N x classes); one stride per convolution."""
    # imported here: onnx costs ~770 ms to import (-X importtime, 2-vCPU runner); only model-building paths need it
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if len(strides) != len(params) - 1:
        raise ValueError(f"{len(params) - 1} convolutions but {len(strides)} strides: give one stride per convolution")
    nodes, inits, x = [], [], "x"
    for i, ((w, b), s) in enumerate(zip(params[:-1], strides)):
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes += [helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], kernel_shape=[3, 3],
                                   pads=[1, 1, 1, 1], strides=[s, s]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        x = f"r{i}"
    w, b = params[-1]
    inits += [numpy_helper.from_array(w, "wf"), numpy_helper.from_array(b, "bf")]
    nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"]),
              helper.make_node("Flatten", ["gap"], ["flat"]),
              helper.make_node("Gemm", ["flat", "wf", "bf"], ["y"], transB=1)]
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [input_shape[0], w.shape[0]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    return model
