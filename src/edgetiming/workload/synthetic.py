"""Small ONNX models built from seeded weights: the same bytes on every device and every run.

A recipe that needs a fixed reference workload beside the model under test (the
drift-and-thermal recipe's sentinel) builds it here instead of shipping a file:
the weights come from ``numpy.random.default_rng(seed)``, so two devices that
build it run exactly the same arithmetic.

Example
-------
>>> from edgetiming.workload.synthetic import matmul_relu_chain
>>> matmul_relu_chain(8, 16) == matmul_relu_chain(8, 16)
True
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["matmul_relu_chain"]


def matmul_relu_chain(rows: int, width: int, *, layers: int = 4, seed: int = 0) -> bytes:
    """A serialized ONNX model ``y = relu(...relu(x @ w0)... @ w{layers-1})`` on a float32 ``[rows, width]`` input.

    Each weight is a ``[width, width]`` standard normal matrix divided by ``sqrt(width)`` (so
    the activations keep their scale through the chain), drawn from ``default_rng(seed)``.
    The input is named ``x``, the output ``y``; opset 13, IR version 8.
    """
    # imported here: onnx costs ~0.8 s to import on the 2-vCPU runner, and only this builder needs it
    from onnx import TensorProto, helper, numpy_helper

    if rows < 1 or width < 1 or layers < 1:
        raise ValueError(f"rows, width and layers must be at least 1, not {rows}, {width}, {layers}")
    rng = np.random.default_rng(seed)
    nodes, inits, prev = [], [], "x"
    for i in range(layers):
        w = (rng.standard_normal((width, width)) / math.sqrt(width)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        out = f"r{i}" if i < layers - 1 else "y"
        nodes += [helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]), helper.make_node("Relu", [f"m{i}"], [out])]
        prev = out
    io = [helper.make_tensor_value_info(v, TensorProto.FLOAT, [rows, width]) for v in ("x", "y")]
    graph = helper.make_graph(nodes, "sentinel", io[:1], io[1:], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8).SerializeToString()
