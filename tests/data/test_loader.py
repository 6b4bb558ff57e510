"""DataLoader: coverage of every example, reproducible shuffles, resume, workers, collation."""

import json
import threading
from collections import namedtuple

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.data import DataLoader, Dataset, Subset, TensorDataset, default_collate
from deepgrad.data import transforms as T
from deepgrad.errors import ShapeError, StateDictError


class Generic(Dataset):
    """Not array-backed: the loader reads it example by example."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


class Failing(Generic):
    def __getitem__(self, i):
        if i == 7:
            raise RuntimeError("example 7 is broken")
        return super().__getitem__(i)


def images(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 1, 8, 8), dtype=np.uint8), np.arange(n)


AUGMENT = T.Compose([T.RandomCrop(8, padding=2), T.RandomHorizontalFlip(), T.ToFloat(),
                     T.RandomErasing(p=0.5)])


def epochs(loader, count):
    return [[tuple(np.copy(a) for a in batch) for batch in loader] for _ in range(count)]


def assert_same_batches(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)


def thread_names():
    return [t.name for t in threading.enumerate() if t.name.startswith("deepgrad-loader")]


def test_every_example_once_per_epoch_and_len():
    ds = TensorDataset(np.arange(103), np.arange(103) * 2)
    loader = DataLoader(ds, batch_size=10, shuffle=True, seed=1)
    assert len(loader) == 11
    for _ in range(3):
        batches = list(loader)
        assert [len(x) for x, _ in batches] == [10] * 10 + [3]
        seen = np.concatenate([x for x, _ in batches])
        np.testing.assert_array_equal(np.sort(seen), np.arange(103))
        for x, y in batches:
            np.testing.assert_array_equal(y, 2 * x)


def test_drop_last_and_len():
    ds = TensorDataset(np.arange(10))
    assert len(DataLoader(ds, batch_size=3)) == 4
    dropped = DataLoader(ds, batch_size=3, drop_last=True, shuffle=True, seed=0)
    assert len(dropped) == 3
    assert [len(b[0]) for b in dropped] == [3, 3, 3]
    assert len(DataLoader(ds, batch_size=11, drop_last=True)) == 0
    assert list(DataLoader(ds, batch_size=11, drop_last=True)) == []


def test_without_shuffle_the_order_is_the_dataset_order():
    ds = TensorDataset(np.arange(7))
    batches = [b[0] for b in DataLoader(ds, batch_size=3)]
    np.testing.assert_array_equal(np.concatenate(batches), np.arange(7))


def test_same_seed_same_order_other_seed_or_epoch_differs():
    ds = TensorDataset(np.arange(100))
    first = epochs(DataLoader(ds, batch_size=10, shuffle=True, seed=5), 2)
    second = epochs(DataLoader(ds, batch_size=10, shuffle=True, seed=5), 2)
    other = epochs(DataLoader(ds, batch_size=10, shuffle=True, seed=6), 1)
    assert_same_batches(first[0], second[0])
    assert_same_batches(first[1], second[1])
    assert not np.array_equal(first[0][0][0], first[1][0][0])
    assert not np.array_equal(first[0][0][0], other[0][0][0])


def test_seed_none_follows_manual_seed():
    ds = TensorDataset(np.arange(100))
    dg.manual_seed(42)
    first = epochs(DataLoader(ds, batch_size=10, shuffle=True), 1)
    dg.manual_seed(42)
    second = epochs(DataLoader(ds, batch_size=10, shuffle=True), 1)
    assert_same_batches(first[0], second[0])


def test_generic_dataset_gives_the_same_batches_as_the_fast_path():
    x, y = images()
    fast = epochs(DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=2,
                             transform=AUGMENT), 2)
    slow = epochs(DataLoader(Generic(x, y), batch_size=8, shuffle=True, seed=2,
                             transform=AUGMENT), 2)
    assert_same_batches(fast[0], slow[0])
    assert_same_batches(fast[1], slow[1])


def test_subset_uses_the_fast_path():
    x, y = images()
    sub = Subset(TensorDataset(x, y), np.arange(0, 50, 2))
    calls = []
    sub.dataset.get_batch = lambda indices, rng: calls.append(indices) or (x[indices],
                                                                           y[indices])
    batches = list(DataLoader(sub, batch_size=5))
    assert len(calls) == 5 and len(batches) == 5
    np.testing.assert_array_equal(batches[1][1], [10, 12, 14, 16, 18])


def test_transform_applies_to_the_first_array_only():
    x, y = images()
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=16, transform=T.ToFloat()):
        assert xb.dtype == np.float32 and yb.dtype == y.dtype
    (xb,) = next(iter(DataLoader(TensorDataset(x), batch_size=4, transform=T.ToFloat())))
    np.testing.assert_array_equal(xb, x[:4] / np.float32(255))
    single = DataLoader(Generic(x, y), batch_size=4, collate_fn=lambda ex: np.stack(
        [e[0] for e in ex]), transform=T.ToFloat())
    assert next(iter(single)).dtype == np.float32
    as_dict = DataLoader(Generic(x, y), batch_size=4, transform=T.ToFloat(),
                         collate_fn=lambda ex: {"x": np.stack([e[0] for e in ex])})
    with pytest.raises(TypeError, match="first array of each batch, but this batch is a dict"):
        next(iter(as_dict))


def test_transformed_batches_are_reproducible_and_vary():
    x, y = images()
    first = epochs(DataLoader(TensorDataset(x, y), batch_size=10, seed=3, transform=AUGMENT), 2)
    second = epochs(DataLoader(TensorDataset(x, y), batch_size=10, seed=3, transform=AUGMENT), 2)
    assert_same_batches(first[0], second[0])
    assert not np.array_equal(first[0][0][0], first[1][0][0])   # new augmentation each epoch


@pytest.mark.parametrize("transform", [None, AUGMENT])
@pytest.mark.parametrize("stop", [1, 4, 6])
def test_resume_mid_epoch_gives_the_rest_and_the_same_next_epochs(transform, stop):
    x, y = images()
    kwargs = dict(batch_size=8, shuffle=True, seed=9, transform=transform)
    reference = epochs(DataLoader(TensorDataset(x, y), **kwargs), 3)

    interrupted = DataLoader(TensorDataset(x, y), **kwargs)
    list(interrupted)                                   # epoch 0
    for index, _ in enumerate(interrupted):             # epoch 1, stopped after `stop` batches
        if index + 1 == stop:
            state = interrupted.state_dict()
            break
    assert state["epoch"] == (1 if stop < 7 else 2)
    assert json.loads(json.dumps(state)) == state     # plain values, for a checkpoint

    resumed = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=123,
                         transform=transform)
    resumed.load_state_dict(state)
    rest, following = epochs(resumed, 2)
    assert_same_batches(rest, reference[1][stop:])
    assert_same_batches(following, reference[2])


def test_state_after_the_last_batch_points_at_the_next_epoch():
    ds = TensorDataset(np.arange(20))
    loader = DataLoader(ds, batch_size=5, shuffle=True, seed=0)
    for _ in loader:
        state = loader.state_dict()
    assert (state["epoch"], state["position"]) == (1, 0)
    assert loader.epoch == 1


def test_break_abandons_the_epoch_as_in_torch():
    ds = TensorDataset(np.arange(20))
    loader = DataLoader(ds, batch_size=5, shuffle=True, seed=0)
    reference = epochs(DataLoader(ds, batch_size=5, shuffle=True, seed=0), 2)
    next(iter(loader))                       # a peek at one batch of epoch 0
    assert_same_batches(epochs(loader, 1)[0], reference[1])


def test_load_state_dict_errors():
    loader = DataLoader(TensorDataset(np.arange(20)), batch_size=5)
    state = loader.state_dict()
    other = DataLoader(TensorDataset(np.arange(20)), batch_size=4)
    with pytest.raises(ValueError, match="saved with batch_size=5, but this loader has "
                                         "batch_size=4"):
        other.load_state_dict(state)
    with pytest.raises(StateDictError, match=r"lacks \['seed'\]"):
        loader.load_state_dict({k: v for k, v in state.items() if k != "seed"})
    with pytest.raises(ValueError, match="position 9 is not a place in an epoch of 4 batches"):
        loader.load_state_dict({**state, "position": 9})


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_give_identical_batches(workers):
    x, y = images(203)
    kwargs = dict(batch_size=16, shuffle=True, seed=4, transform=AUGMENT)
    serial = epochs(DataLoader(TensorDataset(x, y), **kwargs), 2)
    threaded = epochs(DataLoader(TensorDataset(x, y), num_workers=workers, **kwargs), 2)
    assert_same_batches(serial[0], threaded[0])
    assert_same_batches(serial[1], threaded[1])
    generic = epochs(DataLoader(Generic(x, y), num_workers=workers, **kwargs), 1)
    assert_same_batches(serial[0], generic[0])
    assert thread_names() == []


def test_workers_resume_like_the_serial_loader():
    x, y = images()
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=1,
                        num_workers=2, transform=AUGMENT)
    reference = epochs(DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=1,
                                  transform=AUGMENT), 1)[0]
    for index, _ in enumerate(loader):
        if index == 2:
            state = loader.state_dict()
            break
    resumed = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, num_workers=1,
                         transform=AUGMENT)
    resumed.load_state_dict(state)
    assert_same_batches(epochs(resumed, 1)[0], reference[3:])


def test_worker_threads_end_on_break_and_on_errors():
    x, y = images(500)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, num_workers=2, transform=AUGMENT)
    for index, _ in enumerate(loader):
        if index == 3:
            assert thread_names() != []
            break
    assert thread_names() == []
    failing = DataLoader(Failing(x, y), batch_size=4, num_workers=2)
    with pytest.raises(RuntimeError, match="example 7 is broken"):
        list(failing)
    assert thread_names() == []


def test_default_collate_structures_and_dtypes():
    Pair = namedtuple("Pair", "image label")
    examples = [Pair(np.full((2, 2), i, np.uint8), i) for i in range(3)]
    batch = default_collate(examples)
    assert isinstance(batch, Pair)
    assert batch.image.shape == (3, 2, 2) and batch.image.dtype == np.uint8
    assert batch.label.dtype == np.int64
    assert default_collate([0.5, 1.5]).dtype == np.float32
    assert default_collate([1, 2.5]).dtype == np.float32
    assert default_collate([True, False]).dtype == np.bool_
    assert default_collate([np.float64(1.0), np.float64(2.0)]).dtype == np.float64
    assert default_collate(["a", "b"]) == ["a", "b"]
    as_dict = default_collate([{"x": np.zeros(3), "n": 1}, {"x": np.ones(3), "n": 2}])
    assert as_dict["x"].shape == (2, 3) and list(as_dict["n"]) == [1, 2]
    tensors = default_collate([dg.tensor([1.0, 2.0]), dg.tensor([3.0, 4.0])])
    assert isinstance(tensors, np.ndarray) and tensors.shape == (2, 2)
    assert isinstance(default_collate([[1, 2], [3, 4]]), list)


def test_default_collate_errors():
    with pytest.raises(ShapeError, match=r"example 0 has \(3, 28, 28\), example 2 has "
                                         r"\(3, 32, 32\)"):
        default_collate([np.zeros((3, 28, 28))] * 2 + [np.zeros((3, 32, 32))])
    with pytest.raises(TypeError, match="cannot batch examples of type object; pass collate_fn"):
        default_collate([object(), object()])
    with pytest.raises(ValueError, match="same number of fields"):
        default_collate([(1, 2), (1, 2, 3)])


def test_collate_fn_is_used():
    x, y = images(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=5, collate_fn=lambda ex: len(ex))
    assert list(loader) == [5, 5]


def test_constructor_errors():
    ds = TensorDataset(np.arange(4))
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1; got 0"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="num_workers must be an integer >= 0; got -1"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(TypeError, match="dataset must have __getitem__ and __len__"):
        DataLoader(5)
    with pytest.raises(TypeError, match="transform must be callable"):
        DataLoader(ds, transform="flip")
    with pytest.raises(ValueError, match="seed must be an integer >= 0 or None; got -1"):
        DataLoader(ds, seed=-1)


def test_any_sequence_is_a_dataset():
    batches = list(DataLoader([(1, 0.5), (2, 1.5), (3, 2.5)], batch_size=2))
    np.testing.assert_array_equal(batches[0][0], [1, 2])
    assert batches[1][1].dtype == np.float32 and batches[1][1].tolist() == [2.5]


def test_batches_are_tensors_as_pytorchs_and_a_collate_fns_come_as_returned():
    x, y = images(10)
    seen = []
    for make in (lambda: TensorDataset(x, y), lambda: Generic(x, y)):
        for xb, yb in DataLoader(make(), batch_size=4, transform=T.ToFloat()):
            assert isinstance(xb, dg.Tensor) and isinstance(yb, dg.Tensor)
            assert xb.to("cpu").dtype == np.float32 and yb.dtype == np.int64
            assert xb.size(0) == yb.numel() and not xb.requires_grad
            seen.append(yb.tolist())
    assert seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] * 2
    Pair = namedtuple("Pair", "image label")
    nested = Generic([{"pair": Pair(x[i], i), "name": f"n{i}"} for i in range(3)], [0, 1, 2])
    (batch, labels), = DataLoader(nested, batch_size=3)
    assert isinstance(batch["pair"], Pair) and isinstance(batch["pair"].image, dg.Tensor)
    assert batch["name"] == ["n0", "n1", "n2"] and labels.tolist() == [0, 1, 2]
    (raw,) = DataLoader(Generic(x[:2], y[:2]), batch_size=2,
                        collate_fn=lambda examples: np.stack([e[0] for e in examples]))
    assert isinstance(raw, np.ndarray) and raw.shape == (2, 1, 8, 8)
