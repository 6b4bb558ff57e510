"""Models: artifacts saved and loaded and run against PyTorch twins, the compiled plan (constant
folding, fusion, pass-throughs), input checks, errors that name the file and the node, and
the runtime's independence from deepgrad."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from runtime.oracle import assert_matches, one_node

import deepgrad_runtime
from deepgrad_runtime import FileFormatError, Model, load
from deepgrad_runtime.graph import Graph, Node, Value, save_artifact

rng = np.random.default_rng(3)


def f32(*shape: int, scale: float = 0.3) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def flagship_graph(widths=(8, 16, 32), hidden=32, classes=10) -> Graph:
    """The flagship CNN's shape of graph: blocks of Conv 3x3 (no bias), BatchNormalization,
    Relu and MaxPool 2x2, then Flatten, Dropout, Gemm, Relu, Dropout, Gemm."""
    nodes, inits, x, side = [], {}, "image", 28
    for i, (fan_in, width) in enumerate(zip((1, *widths), widths)):
        inits[f"conv{i}.w"] = f32(width, fan_in, 3, 3)
        inits.update({f"bn{i}.scale": 1 + f32(width), f"bn{i}.bias": f32(width),
                      f"bn{i}.mean": f32(width),
                      f"bn{i}.var": rng.uniform(0.5, 2, width).astype(np.float32)})
        nodes += [Node("Conv", [x, f"conv{i}.w"], [f"c{i}"], {"pads": [1, 1, 1, 1],
                                                             "kernel_shape": [3, 3]},
                       f"features.{4 * i}"),
                  Node("BatchNormalization", [f"c{i}", f"bn{i}.scale", f"bn{i}.bias",
                                              f"bn{i}.mean", f"bn{i}.var"], [f"n{i}"],
                       {"epsilon": 1e-5}, f"features.{4 * i + 1}"),
                  Node("Relu", [f"n{i}"], [f"r{i}"], {}, f"features.{4 * i + 2}"),
                  Node("MaxPool", [f"r{i}"], [f"p{i}"], {"kernel_shape": [2, 2],
                                                         "strides": [2, 2]},
                       f"features.{4 * i + 3}")]
        x, side = f"p{i}", side // 2
    inits.update({"fc1.w": f32(hidden, widths[-1] * side * side), "fc1.b": f32(hidden),
                  "fc2.w": f32(classes, hidden), "fc2.b": f32(classes)})
    nodes += [Node("Flatten", [x], ["flat"], {"axis": 1}, "classifier.0"),
              Node("Dropout", ["flat"], ["drop1"], {}, "classifier.1"),
              Node("Gemm", ["drop1", "fc1.w", "fc1.b"], ["h"], {"transB": 1}, "classifier.2"),
              Node("Relu", ["h"], ["hr"], {}, "classifier.3"),
              Node("Dropout", ["hr"], ["drop2"], {}, "classifier.4"),
              Node("Gemm", ["drop2", "fc2.w", "fc2.b"], ["logits"], {"transB": 1},
                   "classifier.5")]
    return Graph([Value("image", (None, 1, 28, 28))], [Value("logits", (None, classes))],
                 nodes, inits, {"model": "flagship-like"})


def torch_twin(torch, graph: Graph, widths=(8, 16, 32)):
    """The same network in PyTorch, eval mode, with the graph's weights."""
    nn, init = torch.nn, graph.initializers
    layers = []
    for i, (fan_in, width) in enumerate(zip((1, *widths), widths)):
        conv, bn = nn.Conv2d(fan_in, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)
        conv.weight.data = torch.tensor(init[f"conv{i}.w"])
        bn.weight.data, bn.bias.data = (torch.tensor(init[f"bn{i}.scale"]),
                                        torch.tensor(init[f"bn{i}.bias"]))
        bn.running_mean, bn.running_var = (torch.tensor(init[f"bn{i}.mean"]),
                                           torch.tensor(init[f"bn{i}.var"]))
        layers += [conv, bn, nn.ReLU(), nn.MaxPool2d(2)]
    fc1, fc2 = nn.Linear(*init["fc1.w"].shape[::-1]), nn.Linear(*init["fc2.w"].shape[::-1])
    for fc, name in ((fc1, "fc1"), (fc2, "fc2")):
        fc.weight.data, fc.bias.data = (torch.tensor(init[f"{name}.w"]),
                                        torch.tensor(init[f"{name}.b"]))
    return nn.Sequential(*layers, nn.Flatten(), nn.Dropout(0.1), fc1, nn.ReLU(),
                         nn.Dropout(0.1), fc2).eval()


@pytest.fixture(scope="module")
def flagship(tmp_path_factory):
    graph = flagship_graph()
    path = save_artifact(graph, tmp_path_factory.mktemp("artifacts") / "cnn.safetensors")
    return graph, path


@pytest.mark.parametrize("batch", [1, 17])
def test_flagship_artifact_matches_its_torch_twin(torch, flagship, batch):
    graph, path = flagship
    model = load(path)
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        expected = torch_twin(torch, graph)(torch.tensor(x)).numpy()
    y = model.run(x)
    assert_matches([y], [expected], tolerance=1e-4)
    assert_matches([model.run(x)], [y], tolerance=0)  # the reused workspace changes nothing


def test_the_plan_folds_fuses_and_skips_pass_throughs(flagship):
    model = load(flagship[1])
    # 3 x (Conv, BN + Relu fused, MaxPool), Flatten, Gemm + Relu fused, Gemm; no Dropouts.
    assert repr(model) == (f"Model({str(flagship[1])!r}, inputs=[image: float32(?, 1, 28, 28)], "
                           f"18 nodes in 12 steps)")


def test_constant_subgraphs_run_once_at_load_time(oracle):
    """Int8 weights dequantized per channel, an activation quantized and dequantized."""
    w = rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    inits = {"w_q": w, "w_scale": rng.uniform(0.01, 0.02, 4).astype(np.float32),
             "w_zero": np.zeros(4, np.int8), "a_scale": np.float32(0.05),
             "a_zero": np.int8(0), "shape": np.array([0, -1], np.int64)}
    nodes = [Node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"], {"axis": 0}),
             Node("QuantizeLinear", ["x", "a_scale", "a_zero"], ["x_q"]),
             Node("DequantizeLinear", ["x_q", "a_scale", "a_zero"], ["x_dq"]),
             Node("Conv", ["x_dq", "w"], ["c"], {"pads": [1, 1, 1, 1]}),
             Node("Relu", ["c"], ["r"]), Node("Reshape", ["r", "shape"], ["y"])]
    graph = Graph([Value("x", (None, 3, 6, 6))], [Value("y", (None, 144))], nodes, inits)
    model = Model(graph)
    assert repr(model).endswith("6 nodes in 4 steps)")  # no dequantization of the weights
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    assert_matches([model.run(x)], oracle(graph, [x]))


def test_inputs_are_checked_and_converted(flagship):
    model = load(flagship[1])
    x = rng.standard_normal((2, 1, 28, 28))
    assert_matches([model.run(x)], [model.run(x.astype(np.float32))])  # float64 converted
    with pytest.raises(ValueError, match=r"input 'image' expects float32 of shape "
                                         r"\(\?, 1, 28, 28\) \(\?: any size\); got float32 of "
                                         r"shape \(2, 28, 28\)"):
        model.run(x[:, 0].astype(np.float32))
    with pytest.raises(ValueError, match=r"expects float32 .* got complex128"):
        model.run(x.astype(np.complex128))
    with pytest.raises(ValueError, match=r"Model.run takes 1 inputs \['image'\]; got 2"):
        model.run(x, x)


def test_outputs_and_errors_of_small_graphs():
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    nodes = [Node("Gather", ["table", "i"], ["rows"]), Node("Identity", ["table"], ["copy"])]
    graph = Graph([Value("i", (None,), "int64")],
                  [Value("rows", (None, 3)), Value("copy", (4, 3))], nodes, {"table": table})
    model = Model(graph)
    rows, copy = model.run(np.array([3, -4]))
    assert rows.tolist() == [[9, 10, 11], [0, 1, 2]]
    copy[:] = -1  # the caller's copy: the constant is untouched
    assert model.run(np.array([0]))[1].tolist() == table.tolist()
    with pytest.raises(ValueError, match=r"expects int64 .* got float32"):
        model.run(np.zeros(1, np.float32))
    with pytest.raises(ValueError, match=r"node 0 \(Gather\): IndexError: index 4 is out of "
                                         r"bounds"):
        model.run(np.array([4]))


def test_errors_at_load_name_the_file_and_the_node(tmp_path):
    graph, _ = one_node("LeakyRelu", [f32(2)], {"alpha": [1, 2]})
    path = save_artifact(graph, tmp_path / "bad.safetensors")
    with pytest.raises(FileFormatError, match=r"bad.safetensors: node 0 \(LeakyRelu "
                                              r"'the_node'\): attribute 'alpha' must be a "
                                              r"finite number; got \[1, 2\]"):
        load(path)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(FileFormatError, match=r"bad\.safetensors: .*truncated"):
        load(path)


def test_deepgrad_runtime_is_deepgrad_dot_runtime():
    import deepgrad.runtime

    assert deepgrad.runtime.load is deepgrad_runtime.load
    assert set(deepgrad.runtime.__all__) == set(deepgrad_runtime.__all__) >= {"load", "Model"}


def test_runs_with_deepgrad_unimportable(flagship, tmp_path):
    """Loading, running and serve-batch need NumPy and the standard library only."""
    np.save(tmp_path / "x.npy", rng.standard_normal((5, 1, 28, 28)).astype(np.float32))
    code = textwrap.dedent(f"""
        import sys
        sys.modules["deepgrad"] = None  # any import of deepgrad now fails
        import numpy as np
        import deepgrad_runtime
        from deepgrad_runtime.cli import main
        model = deepgrad_runtime.load({str(flagship[1])!r})
        x = np.load({str(tmp_path / "x.npy")!r})
        y = model.run(x)
        assert y.shape == (5, 10), y.shape
        assert main(["serve-batch", {str(flagship[1])!r}, {str(tmp_path / "x.npy")!r},
                     {str(tmp_path / "y.npy")!r}, "--batch-size", "2"]) == 0
        assert np.allclose(np.load({str(tmp_path / "y.npy")!r}), y, rtol=1e-5, atol=1e-5)
        banned = [m for m in sys.modules if m.startswith(("deepgrad.", "torch", "onnx"))]
        assert not banned, banned
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


def test_an_input_overrides_its_initializer_and_graphs_are_checked():
    graph = Graph([Value("x", (2,)), Value("w", (2,))], [Value("y", (2,))],
                  [Node("Mul", ["x", "w"], ["y"])], {"w": np.full(2, 3, np.float32)})
    y = Model(graph).run(np.ones(2, np.float32), np.full(2, 5, np.float32))
    assert y.tolist() == [5, 5]
    graph.nodes.append(Node("Relu", ["missing"], ["z"]))
    with pytest.raises(ValueError, match=r"node 1 \(Relu\): reads \['missing'\]"):
        Model(graph)


@pytest.mark.parametrize(("producer", "activation", "attrs", "bounds"), [
    ("Conv", "Relu", {}, ()), ("Gemm", "Tanh", {}, ()), ("MatMul", "LeakyRelu", {"alpha": 0.3}, ()),
    ("Add", "HardSigmoid", {"alpha": 0.3, "beta": 0.4}, ()),
    ("BatchNormalization", "Clip", {}, (np.float32(-0.2), np.float32(0.3))),
    ("ConvTranspose", "Clip", {}, (None, np.float32(0.1))),
])
def test_activations_fused_in_place_match_onnxruntime(oracle, producer, activation, attrs,
                                                      bounds):
    x = f32(6, 5, scale=1.0) if producer == "Gemm" else f32(2, 3, 5, 5, scale=1.0)
    weights = {"Conv": [f32(4, 3, 3, 3)], "ConvTranspose": [f32(3, 2, 3, 3)],
               "Gemm": [f32(5, 4)], "MatMul": [f32(5, 4)], "Add": [f32(5)],
               "BatchNormalization": [1 + f32(3), f32(3), f32(3), 1 + np.abs(f32(3))]}[producer]
    inits = {f"p{i}": w for i, w in enumerate(weights)}
    inits.update({f"b{i}": b for i, b in enumerate(bounds) if b is not None})
    nodes = [Node(producer, ["x", *(f"p{i}" for i in range(len(weights)))], ["h"]),
             Node(activation, ["h", *(f"b{i}" if b is not None else "" for i, b in
                                      enumerate(bounds))], ["y"], attrs)]
    graph = Graph([Value("x", x.shape)], [Value("y", ())], nodes, inits)
    model = Model(graph)
    assert repr(model).endswith("2 nodes in 1 steps)")
    assert_matches([model.run(x)], oracle(graph, [x]))
