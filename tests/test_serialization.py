"""safetensors files written and read with NumPy alone, checked against the `safetensors`
package in both directions; corrupted, truncated and foreign files; atomic writes;
dg.save / dg.load_into."""

import json
import os
import struct

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn
from deepgrad.serialization import atomic_write, load_file, load_tree, save_file, save_tree


@pytest.fixture
def safetensors_numpy():
    return pytest.importorskip(
        "safetensors.numpy",
        reason="the safetensors package is not installed: `pip install safetensors` (dev extra)")


def _arrays():
    rng = np.random.default_rng(0)
    return {
        "w": rng.standard_normal((3, 4)).astype(np.float32),
        "b": rng.standard_normal(4),
        "steps": np.array(7, dtype=np.int64),
        "mask": np.array([True, False, True]),
        "empty": np.zeros((0, 5), np.float32),
        "bytes": np.arange(5, dtype=np.uint8),
        "half": np.array([1.5, -2.0], np.float16),
        "i32": np.array([[1, -2]], np.int32),
    }


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_round_trip_every_dtype(tmp_path):
    arrays = _arrays()
    save_file(arrays, tmp_path / "a.safetensors", metadata={"epoch": "3"})
    loaded, metadata = load_file(tmp_path / "a.safetensors")
    _assert_same(loaded, arrays)
    assert metadata == {"epoch": "3"}
    loaded["w"][0, 0] = 1.0  # arrays are writable


def test_files_we_write_are_read_by_the_safetensors_package(tmp_path, safetensors_numpy):
    arrays = _arrays()
    save_file(arrays, tmp_path / "a.safetensors")
    _assert_same(safetensors_numpy.load_file(str(tmp_path / "a.safetensors")), arrays)


def test_we_read_files_written_by_the_safetensors_package(tmp_path, safetensors_numpy):
    arrays = _arrays()
    safetensors_numpy.save_file(arrays, str(tmp_path / "a.safetensors"), metadata={"k": "v"})
    loaded, metadata = load_file(tmp_path / "a.safetensors")
    _assert_same(loaded, arrays)
    assert metadata == {"k": "v"}


def test_non_contiguous_and_big_endian_arrays_are_stored_as_values(tmp_path):
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    save_file({"t": a.T, "be": a.astype(">f4")}, tmp_path / "x.safetensors")
    loaded, _ = load_file(tmp_path / "x.safetensors")
    np.testing.assert_array_equal(loaded["t"], a.T)
    np.testing.assert_array_equal(loaded["be"], a.astype(np.float32))
    assert loaded["be"].dtype == np.float32


def test_tensors_are_accepted(tmp_path):
    save_file({"x": dg.tensor([1.0, 2.0])}, tmp_path / "x.safetensors")
    np.testing.assert_array_equal(load_file(tmp_path / "x.safetensors")[0]["x"], [1.0, 2.0])


def test_unsupported_dtype_and_bad_metadata_are_refused(tmp_path):
    with pytest.raises(TypeError, match="tensor 'c' has dtype complex128"):
        save_file({"c": np.zeros(2, complex)}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="metadata maps strings to strings"):
        save_file({"x": np.zeros(2)}, tmp_path / "x.safetensors", metadata={"epoch": 3})
    assert not list(tmp_path.iterdir())


def _write_raw(path, header, data=b""):
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)
    return path


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_bytes(b"abc"), "shorter than the 8-byte header length"),
    (lambda p: p.write_bytes(struct.pack("<Q", 1000) + b"{}"), "header claims 1000 bytes"),
    (lambda p: p.write_bytes(b"PK\x03\x04" + b"\x00" * 60), "not a safetensors file"),
    (lambda p: p.write_bytes(struct.pack("<Q", 4) + b"\xff\xfe{}"), "not valid JSON"),
    (lambda p: _write_raw(p, [1, 2]), "not a JSON object"),
    (lambda p: _write_raw(p, {"x": {"dtype": "F32"}}), "needs dtype, shape and data_offsets"),
    (lambda p: _write_raw(p, {"x": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}},
                          b"\x00" * 8), "dtype 'C64' is not supported"),
    (lambda p: _write_raw(p, {"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}},
                          b"\x00" * 4), "shape must be a list of non-negative integers"),
    (lambda p: _write_raw(p, {"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}},
                          b"\x00" * 4), "needs 8 bytes but data_offsets"),
    (lambda p: _write_raw(p, {"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}},
                          b"\x00" * 8), "a gap or overlap"),
    (lambda p: _write_raw(p, {"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}},
                          b"\x00" * 4), "truncated or has trailing bytes"),
    (lambda p: _write_raw(p, {"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
                          b"\x00" * 9), "truncated or has trailing bytes"),
    (lambda p: _write_raw(p, {"__metadata__": {"a": 1}}), "__metadata__ must map strings"),
])
def test_broken_files_are_errors_naming_the_file(tmp_path, make, message):
    path = tmp_path / "broken.safetensors"
    make(path)
    with pytest.raises(dg.FileFormatError, match=message) as info:
        load_file(path)
    assert str(path) in str(info.value)


def test_an_onnx_file_is_named_as_such(tmp_path):
    # The start of an ONNX model (a protobuf: ir_version 8, then the producer's name).
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\x08\x08\x12\x08deepgrad:" + b"\x00" * 40)
    with pytest.raises(dg.FileFormatError, match=r"looks like an ONNX model: .*from_onnx"):
        load_file(path)


def test_a_torch_save_file_is_named_as_such_and_never_unpickled(tmp_path, torch):
    for name, legacy in (("model.pth", False), ("old.pt", True)):
        path = tmp_path / name
        torch.save({"weight": torch.ones(2)}, path, _use_new_zipfile_serialization=not legacy)
        with pytest.raises(dg.FileFormatError, match=r"looks like a torch.save file .* "
                                                     r"safetensors.torch.save_file"):
            dg.load(path)


def test_every_truncation_of_a_real_file_is_detected(tmp_path):
    path = save_file(_arrays(), tmp_path / "a.safetensors")
    raw = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    for size in range(0, len(raw), 7):
        cut.write_bytes(raw[:size])
        with pytest.raises(dg.FileFormatError):
            load_file(cut)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_file(tmp_path / "nope.safetensors")


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = save_file({"x": np.ones(3)}, tmp_path / "ckpt.safetensors")

    def crash(f):
        f.write(b"half a file")
        raise OSError("disk full (simulated)")

    with pytest.raises(OSError, match="simulated"):
        atomic_write(path, crash)
    np.testing.assert_array_equal(load_file(path)[0]["x"], np.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]  # no temp file left


def _model():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 3))


def test_save_and_load_into_round_trip_the_weights_and_buffers(tmp_path):
    dg.manual_seed(0)
    model = _model()
    model(dg.randn(2, 1, 8, 8))  # moves the running statistics
    dg.save(model, tmp_path / "m.safetensors")
    dg.manual_seed(1)
    other = _model()
    dg.load_into(other, tmp_path / "m.safetensors")
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=k)


def test_load_into_the_wrong_architecture_lists_the_keys(tmp_path):
    dg.save(_model(), tmp_path / "m.safetensors")
    wrong = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 3))
    with pytest.raises(dg.StateDictError) as info:
        dg.load_into(wrong, tmp_path / "m.safetensors")
    text = str(info.value)
    assert str(tmp_path / "m.safetensors") in text
    assert "0.weight: expected shape (8, 1, 3, 3), got (4, 1, 3, 3)" in text
    assert "unexpected key: 1.running_mean" in text
    assert "missing key: 3.weight" in text


def test_torch_weights_saved_by_the_safetensors_package_load(tmp_path, torch):
    safetensors_torch = pytest.importorskip("safetensors.torch", reason="safetensors not installed")
    twin = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4),
                               torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 3))
    safetensors_torch.save_file(twin.state_dict(), str(tmp_path / "t.safetensors"))
    model = _model()
    dg.load_into(model, tmp_path / "t.safetensors")
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    model.eval()
    twin.eval()
    np.testing.assert_allclose(model(dg.tensor(x)).numpy(), twin(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_tree_round_trip_keeps_types_keys_and_big_integers(tmp_path):
    rng = np.random.default_rng(5)
    tree = {
        "model": {"0.weight": np.ones((2, 3), np.float32), "0.bias": np.zeros(2)},
        "optimizer": {"state": {0: {"step": 3, "exp_avg": np.full(3, 0.5)}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0]}]},
        "rng": rng.bit_generator.state,
        "epoch": 2, "done": False, "name": "cnn", "nothing": None, "scalar": np.float32(1.5),
    }
    loaded = load_tree(save_tree(tree, tmp_path / "ckpt.safetensors"))
    np.testing.assert_array_equal(loaded["model"]["0.weight"], tree["model"]["0.weight"])
    assert loaded["model"]["0.weight"].dtype == np.float32
    assert list(loaded["optimizer"]["state"]) == [0]  # integer keys stay integers
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert loaded["rng"] == tree["rng"]  # 128-bit integers exactly
    assert (loaded["epoch"], loaded["done"], loaded["name"], loaded["nothing"]) == (2, False,
                                                                                     "cnn", None)
    assert loaded["scalar"] == 1.5
    clash = load_tree(save_tree({"a.b": np.ones(1), "a": {"b": np.zeros(1)}}, tmp_path / "c"))
    assert clash["a.b"][0] == 1 and clash["a"]["b"][0] == 0
    other = np.random.default_rng()
    other.bit_generator.state = loaded["rng"]
    assert other.random() == rng.random()


def test_tree_refuses_objects_and_plain_weight_files(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store object at model\.f"):
        save_tree({"model": {"f": object()}}, tmp_path / "x.safetensors")
    save_file({"w": np.ones(2)}, tmp_path / "w.safetensors")
    with pytest.raises(dg.FileFormatError, match="not a deepgrad checkpoint"):
        load_tree(tmp_path / "w.safetensors")


def test_written_files_get_the_default_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = save_file({"w": np.zeros(2)}, tmp_path / "w.safetensors")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # no temporary left


def test_save_and_load_are_torch_save_and_load_without_pickle(tmp_path, torch):
    dg.manual_seed(0)
    model = _model()
    optimizer = dg.optim.Adam(model.parameters(), lr=1e-3)
    model(dg.randn(2, 1, 8, 8)).sum().backward()
    optimizer.step()
    # Weights alone: a plain safetensors file (torch reads it through the safetensors package).
    dg.save(model.state_dict(), tmp_path / "w.safetensors")
    weights = dg.load(tmp_path / "w.safetensors", map_location="cpu", weights_only=True)
    assert sorted(weights) == sorted(model.state_dict())
    other = _model()
    other.load_state_dict(weights)
    # A checkpoint dict, PyTorch's idiom, with its optimizer state and numbers.
    dg.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3},
            tmp_path / "ckpt.safetensors")
    checkpoint = dg.load(tmp_path / "ckpt.safetensors", map_location=dg.device("cpu"))
    assert checkpoint["epoch"] == 3
    restored = dg.optim.Adam(other.parameters(), lr=1e-3)
    restored.load_state_dict(checkpoint["optimizer"])
    for k, a in model.state_dict().items():
        np.testing.assert_array_equal(a, checkpoint["model"][k], err_msg=k)
    x = dg.randn(2, 1, 8, 8)
    for m, opt in ((model, optimizer), (other, restored)):
        opt.zero_grad()
        m(x).sum().backward()
        opt.step()
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=k)
    with pytest.raises(ValueError, match="load: device 'cuda' is not available"):
        dg.load(tmp_path / "w.safetensors", map_location="cuda")
    with pytest.raises(TypeError, match="map_location must be a device"):
        dg.load(tmp_path / "w.safetensors", map_location={"cuda:0": "cpu"})
    with pytest.raises(TypeError, match="cannot store object at extra"):
        dg.save({"extra": object()}, tmp_path / "bad.safetensors")
