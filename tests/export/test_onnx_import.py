"""dg.export.from_onnx on models exported by torch.onnx.export(dynamo=False, opset 17): outputs
equal PyTorch's, fine-tuning matches PyTorch's gradients, and bad files raise clear errors."""

import contextlib
import sys
import warnings

import numpy as np
import pytest

import deepgrad as dg
import deepgrad_runtime
from deepgrad.export.graph_module import GraphModule
from deepgrad.export.onnx_import import from_onnx, read_onnx
from deepgrad_runtime.graph import load_artifact, save_artifact

onnx = pytest.importorskip("onnx", reason="ONNX import needs `pip install 'deepgrad[onnx]'`")


def _models(torch):
    nn = torch.nn

    class Block(nn.Module):
        """conv-bn-relu-conv-bn + identity, relu; mean over space (ReduceMean); a linear head."""

        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)
            self.conv2, self.bn2 = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)
            self.head = nn.Linear(4, 3)

        def forward(self, x):
            y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            return self.head(torch.relu(x + y).mean((2, 3)))

    class Recurrent(nn.Module):
        """A stacked recurrent layer over (N, T, F); a linear head on the last step."""

        def __init__(self, kind, **options):
            super().__init__()
            self.rnn = kind(6, 8, num_layers=2, batch_first=True, **options)
            self.head = nn.Linear(8 * (1 + options.get("bidirectional", False)), 3)

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

    class TextClassifier(nn.Module):
        """Embedding -> LSTM -> LayerNorm -> linear (the Gather of an embedding)."""

        def __init__(self):
            super().__init__()
            self.embed, self.rnn = nn.Embedding(20, 6), nn.LSTM(6, 8, batch_first=True)
            self.norm, self.head = nn.LayerNorm(8), nn.Linear(8, 3)

        def forward(self, x):
            return self.head(self.norm(self.rnn(self.embed(x))[1][0][0]))

    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
    return {
        "mlp": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(),
                                      nn.Linear(16, 3)), (3, 4)),
        "cnn": (lambda: cnn, (1, 8, 8)),
        "resnet_block": (Block, (4, 6, 6)),
        "depthwise_separable": (lambda: nn.Sequential(
            nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.BatchNorm2d(4), nn.ReLU6(),
            nn.Conv2d(4, 8, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()), (4, 6, 6)),
        "lstm": (lambda: Recurrent(nn.LSTM), (5, 6)),
        "gru": (lambda: Recurrent(nn.GRU, bidirectional=True), (5, 6)),
        "rnn": (lambda: Recurrent(nn.RNN, nonlinearity="relu"), (5, 6)),
        "text": (TextClassifier, (7,)),
        "upsample": (lambda: nn.Sequential(
            nn.Conv2d(2, 3, 3, padding=1), nn.Upsample(scale_factor=2), nn.ReLU(),
            nn.Upsample(scale_factor=1.5, mode="bilinear"),
            nn.Upsample(size=(5, 7), mode="bilinear", align_corners=True), nn.Flatten(),
            nn.Linear(3 * 5 * 7, 3)), (2, 3, 4)),
    }


def _randomize(torch, model):
    """Random batch-norm statistics and affine parameters, so that no two are equal."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            with torch.no_grad():
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
    return model


def _example(torch, name, shape, batch):
    if name == "text":
        return torch.randint(0, 20, (batch, *shape))
    return torch.randn(batch, *shape)


def _export(torch, model, example, path, **options):
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, str(path), dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, **options)
    return path


def _exported(torch, tmp_path, name, **options):
    torch.manual_seed(0)
    make, shape = _models(torch)[name]
    model = _randomize(torch, make())
    path = _export(torch, model, _example(torch, name, shape, 2), tmp_path / f"{name}.onnx",
                   **options)
    return model, shape, path


@pytest.mark.parametrize("name", ["mlp", "cnn", "resnet_block", "depthwise_separable", "lstm",
                                  "gru", "rnn", "text", "upsample"])
@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
def test_imported_model_matches_torch(torch, tmp_path, name, fold):
    model, shape, path = _exported(torch, tmp_path, name, do_constant_folding=fold)
    module = from_onnx(path)
    assert isinstance(module, GraphModule) and not module.training
    for batch in (1, 5):
        x = _example(torch, name, shape, batch)
        with torch.no_grad():
            expected = model(x).numpy()
        np.testing.assert_allclose(module(x.numpy()).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_bytes_and_model_protos_import_as_the_file_does(torch, tmp_path):
    """As onnxruntime's InferenceSession, from_onnx takes the file's bytes (torch.onnx.export
    to a BytesIO) or an onnx.ModelProto, which it leaves as it was (even when it converts it
    from another opset)."""
    model, shape, path = _exported(torch, tmp_path, "cnn")
    x = _example(torch, "cnn", shape, 3).numpy()
    expected = from_onnx(path)(x).numpy()
    np.testing.assert_array_equal(from_onnx(path.read_bytes())(x).numpy(), expected)
    proto = onnx.load(str(path))
    proto.opset_import[0].version = 13  # the operators of this graph mean the same there
    before = proto.SerializeToString()
    np.testing.assert_array_equal(from_onnx(proto)(x).numpy(), expected)
    assert proto.SerializeToString() == before
    with pytest.raises(dg.FileFormatError, match=r"the ONNX model \(8 bytes\): not a "
                                                 r"(readable|valid) ONNX model"):
        from_onnx(b"not onnx")
    with pytest.raises(TypeError, match=r"from_onnx: expected the path of an ONNX file, its "
                                        r"bytes or an onnx\.ModelProto; got Sequential"):
        from_onnx(model)


def _default_exporter_models(torch):
    """What PyTorch's default (dynamo) exporter writes in opset 20 that its older one did not:
    Gelu (both forms), HardSwish, PRelu (PyTorch's single slope), MaxPool's storage_order and
    LayerNormalization's stash_type; and a Resize of opset 18+."""
    nn = torch.nn
    return {
        "cnn": (nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Hardswish(),
                              nn.MaxPool2d(2), nn.Conv2d(4, 4, 1), nn.PReLU(),
                              nn.Upsample(scale_factor=2, mode="bilinear"), nn.Flatten(),
                              nn.Linear(4 * 6 * 6, 3)), (2, 6, 6)),
        "transformer": (nn.Sequential(
            nn.Linear(6, 8), nn.GELU(approximate="tanh"), nn.TransformerEncoderLayer(
                8, 2, 16, dropout=0.0, activation="gelu", batch_first=True),
            nn.LayerNorm(8), nn.Linear(8, 3)), (5, 6)),
    }


@pytest.mark.parametrize("name", ["cnn", "transformer"])
def test_models_from_torchs_default_exporter(torch, tmp_path, name):
    pytest.importorskip("onnxscript", reason="torch.onnx.export(dynamo=True) needs onnxscript")
    torch.manual_seed(0)
    model, shape = _default_exporter_models(torch)[name]
    model = _randomize(torch, model).eval()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (torch.randn(2, *shape),), dynamo=True,
                                    dynamic_shapes=({0: torch.export.Dim("batch")},))
    assert program.model_proto.opset_import[0].version >= 20
    module = from_onnx(program.model_proto)
    x = torch.randn(5, *shape)
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(module(x.numpy()).numpy(), expected, rtol=1e-5, atol=1e-5)
    if name == "cnn":  # the slope of PReLU trains as PyTorch's does
        assert any(p.numel() == 1 for p in module.parameters())
    # On to the runtime, the example input taken from the graph's inputs.
    path = dg.export.to_runtime(module, tmp_path / "imported.safetensors")
    np.testing.assert_allclose(deepgrad_runtime.load(path).run(x.numpy()), expected, rtol=1e-5,
                               atol=1e-5)


def test_batch_norm_is_kept_without_constant_folding(torch, tmp_path):
    _, _, path = _exported(torch, tmp_path, "cnn", do_constant_folding=False)
    module = from_onnx(path)
    assert "BatchNormalization" in [n.op for n in module.graph.nodes]
    assert {name for name, _ in module.named_buffers()} == {"1_running_mean", "1_running_var"}
    assert module.initializer_names["1.weight"] == "1_weight"
    assert {name for name, _ in module.named_parameters()} == {
        "0_weight", "0_bias", "1_weight", "1_bias", "5_weight", "5_bias"}


def _sync_step(torch, model, module, x, labels, lr=0.1):
    """One SGD step on the same batch in both frameworks; the losses before it."""
    model.train()
    module.train()
    loss_torch = torch.nn.functional.cross_entropy(model(x), torch.from_numpy(labels))
    loss_torch.backward()
    loss = dg.nn.functional.cross_entropy(module(x.numpy()), labels)
    loss.backward()
    optimizer = dg.optim.SGD(module.parameters(), lr=lr)
    optimizer.step()
    torch.optim.SGD(model.parameters(), lr=lr).step()
    return loss_torch.item(), loss.item()


@pytest.mark.parametrize("name", ["mlp", "cnn", "lstm", "gru", "text", "upsample"])
def test_fine_tuning_step_matches_torch(torch, tmp_path, name):
    # Without constant folding the export keeps the batch norm, so that both models train it,
    # and the initializers are PyTorch's parameters, names and all (the recurrent weights reach
    # the LSTM and GRU nodes through Slice and Concat).
    model, shape, path = _exported(torch, tmp_path, name, do_constant_folding=False)
    module = from_onnx(path)
    x = _example(torch, name, shape, 6)
    labels = np.array([0, 1, 2, 0, 1, 2])
    loss_torch, loss = _sync_step(torch, model, module, x, labels)
    assert loss == pytest.approx(loss_torch, rel=1e-5)
    torch_params = dict(model.named_parameters())
    torch_state = model.state_dict()
    assert set(torch_params) <= set(module.initializer_names)
    for onnx_name, attr in module.initializer_names.items():
        tensor = getattr(module, attr)
        if onnx_name in torch_params:
            # after one step, p = p0 - lr * g: equal weights mean equal gradients too
            np.testing.assert_allclose(tensor.grad.numpy(), torch_params[onnx_name].grad.numpy(),
                                       rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(tensor.numpy(), torch_state[onnx_name].numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=onnx_name)


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_a_few_sgd_steps_lower_the_loss(torch, tmp_path, name):
    _, shape, path = _exported(torch, tmp_path, name, do_constant_folding=False)
    module = from_onnx(path).train()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, *shape)).astype(np.float32)
    labels = rng.integers(0, 3, 16)
    optimizer = dg.optim.SGD(module.parameters(), lr=0.3, momentum=0.5)
    losses = []
    for _ in range(10):
        optimizer.zero_grad()
        loss = dg.nn.functional.cross_entropy(module(x), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses


# ONNX gate blocks in PyTorch's order: ONNX block k holds PyTorch block _FROM_TORCH[k].
_FROM_TORCH = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}


def _onnx_layout(grad, op, hidden):
    blocks = grad.reshape(len(_FROM_TORCH[op]), hidden, *grad.shape[1:])
    return blocks[_FROM_TORCH[op]].reshape(grad.shape)


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_recurrent_gradients_match_torch(torch, tmp_path, name):
    model, shape, path = _exported(torch, tmp_path, name)
    module = from_onnx(path)
    x = _example(torch, name, shape, 4)
    labels = np.array([0, 1, 2, 1])
    _sync_step(torch, model, module, x, labels)
    op = name.upper()
    nodes = [n for n in module.graph.nodes if n.op == op]
    directions = 2 if name == "gru" else 1
    for layer, node in enumerate(nodes):
        w, r, b = (getattr(module, module.initializer_names[n]).grad.numpy()
                   for n in node.inputs[1:4])
        for d in range(directions):
            suffix = f"l{layer}" + ("_reverse" if d else "")
            grads = {k: getattr(model.rnn, f"{k}_{suffix}").grad.numpy()
                     for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
            np.testing.assert_allclose(w[d], _onnx_layout(grads["weight_ih"], op, 8), atol=1e-6)
            np.testing.assert_allclose(r[d], _onnx_layout(grads["weight_hh"], op, 8), atol=1e-6)
            np.testing.assert_allclose(
                b[d], np.concatenate([_onnx_layout(grads[k], op, 8)
                                      for k in ("bias_ih", "bias_hh")]), atol=1e-6)


def test_shared_initializers_become_separate_parameters_and_buffers(torch, tmp_path):
    # A fresh BatchNorm's weight equals its running variance (ones), its bias its running mean
    # (zeros): the exporter stores each pair once and links them with Identity nodes.
    torch.manual_seed(0)
    model = _models(torch)["cnn"][0]()
    path = _export(torch, model, torch.randn(2, 1, 8, 8), tmp_path / "fresh.onnx",
                   do_constant_folding=False)
    assert "Identity" in [n.op_type for n in onnx.load(str(path)).graph.node]
    module = from_onnx(path)
    x = torch.randn(6, 1, 8, 8)
    _sync_step(torch, model, module, x, np.array([0, 1, 2, 3, 4, 0]))
    state = model.state_dict()
    for onnx_name, attr in module.initializer_names.items():
        np.testing.assert_allclose(getattr(module, attr).numpy(), state[onnx_name].numpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=onnx_name)


@pytest.mark.parametrize("name", ["lstm", "cnn"])
@pytest.mark.parametrize("opset", [11, 13, 18, 21])
def test_other_opsets_are_converted(torch, tmp_path, opset, name):
    torch.manual_seed(0)
    make, shape = _models(torch)[name]
    model = make().eval()
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.randn(2, *shape), str(path), dynamo=False,
                          opset_version=opset, dynamic_axes={"x": {0: "batch"}},
                          input_names=["x"])
    x = torch.randn(3, *shape)
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(from_onnx(path)(x.numpy()).numpy(), expected, atol=1e-5)


def test_external_data(torch, tmp_path):
    model, shape, path = _exported(torch, tmp_path, "mlp")
    proto = onnx.load(str(path))
    external = tmp_path / "external.onnx"
    onnx.save_model(proto, str(external), save_as_external_data=True, location="weights.bin",
                    size_threshold=0)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(from_onnx(external)(x.numpy()).numpy(), expected, atol=1e-5)
    (tmp_path / "weights.bin").unlink()
    with pytest.raises(dg.FileFormatError, match=r"external\.onnx: not a readable ONNX model"):
        from_onnx(external)


def test_fine_tuned_module_writes_a_runtime_artifact(torch, tmp_path):
    _, shape, path = _exported(torch, tmp_path, "cnn", do_constant_folding=False)
    module = from_onnx(path)
    x = np.random.default_rng(0).standard_normal((4, *shape)).astype(np.float32)
    module.train()
    dg.nn.functional.cross_entropy(module(x), np.array([0, 1, 2, 3])).backward()
    dg.optim.SGD(module.parameters(), lr=0.1).step()
    module.eval()
    artifact = save_artifact(module.to_graph(), tmp_path / "model.safetensors")
    reloaded = GraphModule(load_artifact(artifact))
    np.testing.assert_allclose(reloaded(x).numpy(), module(x).numpy(), rtol=1e-6)
    assert reloaded.graph.metadata["source"] == "onnx"


# ---------------------------------------------------------------------------------- bad files
def _model(nodes, inputs, outputs, initializers=()):
    helper = onnx.helper
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _float_value(name, shape):
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape)


def test_unsupported_operator_names_the_node_and_op(tmp_path):
    path = tmp_path / "tan.onnx"
    onnx.save(_model([onnx.helper.make_node("Relu", ["x"], ["h"], name="act"),
                      onnx.helper.make_node("Tan", ["h"], ["y"], name="my_tan")],
                     [_float_value("x", [None, 3])], [_float_value("y", [None, 3])]), str(path))
    with pytest.raises(ValueError, match=r"tan\.onnx: node 1 \(Tan in 'my_tan'\): operator "
                                         r"'Tan' is not supported by deepgrad \(it imports Abs, "
                                         r"Acos, Add, "):
        from_onnx(path)


def test_custom_domain_and_training_mode_are_refused(tmp_path):
    path = tmp_path / "custom.onnx"
    model = _model([onnx.helper.make_node("Gelu", ["x"], ["y"], domain="com.microsoft")],
                   [_float_value("x", [2])], [_float_value("y", [2])])
    model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(path))
    with pytest.raises(ValueError, match=r"node 0 \(Gelu\): operator com.microsoft.Gelu of a "
                                         r"custom domain is not supported"):
        from_onnx(path)
    stats = [onnx.numpy_helper.from_array(np.ones(2, np.float32), n) for n in "sbmv"]
    onnx.save(_model([onnx.helper.make_node("BatchNormalization", ["x", *"sbmv"],
                                            ["y", "mean", "var"],
                                            training_mode=1, name="bn")],
                     [_float_value("x", [3, 2])], [_float_value("y", [3, 2])], stats), str(path))
    with pytest.raises(ValueError, match=r"node 0 \(BatchNormalization in 'bn'\): "
                                         r"training_mode=1 \(a model exported in training mode\)"):
        from_onnx(path)


def test_missing_truncated_and_foreign_files(torch, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.onnx: no such ONNX file"):
        from_onnx(tmp_path / "nothing.onnx")
    _, _, path = _exported(torch, tmp_path, "mlp")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[:len(data) // 2])
    with pytest.raises(dg.FileFormatError, match=r"truncated\.onnx: not a (readable|valid) "
                                                 r"ONNX model"):
        from_onnx(truncated)
    foreign = tmp_path / "notes.onnx"
    foreign.write_text("these are not the weights you are looking for\n")
    with pytest.raises(dg.FileFormatError, match=r"notes\.onnx: not a (readable|valid) ONNX"):
        from_onnx(foreign)


def test_model_rejected_by_the_checker(tmp_path):
    path = tmp_path / "dangling.onnx"
    onnx.save(_model([onnx.helper.make_node("Add", ["x", "nowhere"], ["y"])],
                     [_float_value("x", [2])], [_float_value("y", [2])]), str(path))
    with pytest.raises(dg.FileFormatError, match=r"dangling\.onnx: not a valid ONNX model: "
                                                 r"onnx.checker rejects it"):
        read_onnx(path)


def test_fuzzed_files_raise_only_deepgrads_errors(torch, tmp_path):
    hypothesis = pytest.importorskip("hypothesis", reason="the fuzz test needs hypothesis")
    st = hypothesis.strategies
    originals = {name: _exported(torch, tmp_path, name)[2].read_bytes()
                 for name in ("mlp", "lstm")}
    path = tmp_path / "fuzzed.onnx"
    outcomes = {"imported": 0, "refused": 0}

    @hypothesis.settings(max_examples=600, deadline=None, database=None, derandomize=True)
    @hypothesis.given(st.sampled_from(sorted(originals)), st.data())
    def check(name, data):
        raw = bytearray(originals[name])
        for _ in range(data.draw(st.integers(1, 4))):
            if len(raw) < 2:
                break
            position = data.draw(st.integers(0, len(raw) - 1))
            action = data.draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
            if action == "set":
                raw[position] = data.draw(st.integers(0, 255))
            elif action == "insert":
                raw.insert(position, data.draw(st.integers(0, 255)))
            elif action == "delete":
                del raw[position]
            else:
                del raw[max(position, 1):]
        path.write_bytes(bytes(raw))
        try:
            module = from_onnx(path)
        except ValueError:  # FileFormatError is one
            outcomes["refused"] += 1
            return
        outcomes["imported"] += 1
        if name == "mlp":  # no shape computations, whose changed sizes could be huge
            with contextlib.suppress(ValueError, TypeError, IndexError), np.errstate(all="ignore"):
                module(np.ones((2, 3, 4), np.float32))

    check()
    assert outcomes["refused"] > 0 and outcomes["imported"] > 0


def test_missing_onnx_package_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail
    with pytest.raises(ImportError, match=r"pip install 'deepgrad\[onnx\]'"):
        from_onnx(tmp_path / "model.onnx")
