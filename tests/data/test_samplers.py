"""Samplers, the DataLoader's sampler / batch_sampler, IterableDataset, and exact resume with
samplers (PyTorch's torch.utils.data names and rules, checked against torch where it counts)."""

import numpy as np
import pytest
import torch.utils.data as tud

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.data import (
    BatchSampler,
    DataLoader,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    get_worker_info,
)
from deepgrad.datasets import make_spiral
from deepgrad.errors import CheckpointError


def rng(seed=0):
    return np.random.default_rng(seed)


def indices_of(loader):
    """The first column of every batch of one epoch over a TensorDataset(arange(n))."""
    return [b[0].tolist() for b in loader]


def numbered(n=10):
    return TensorDataset(np.arange(n))


# ---------------------------------------------------------------- samplers on their own
def test_sequential_sampler_is_the_dataset_order():
    assert list(SequentialSampler(range(5))) == [0, 1, 2, 3, 4]
    assert len(SequentialSampler(range(5))) == 5


def test_random_sampler_permutes_or_draws_with_replacement():
    order = list(RandomSampler(range(50), generator=rng()))
    assert sorted(order) == list(range(50)) and order != list(range(50))
    drawn = list(RandomSampler(range(5), replacement=True, num_samples=1000, generator=rng()))
    assert len(drawn) == 1000 and set(drawn) == set(range(5))
    counts = np.bincount(drawn, minlength=5)
    assert np.all(np.abs(counts / 1000 - 0.2) < 0.05)
    # More samples than examples without replacement: whole permutations, the last cut short.
    longer = list(RandomSampler(range(4), num_samples=10, generator=rng()))
    assert sorted(longer[:4]) == sorted(longer[4:8]) == [0, 1, 2, 3] and len(longer) == 10


def test_random_sampler_checks_its_arguments_as_torch():
    with pytest.raises(ValueError, match="replacement should be a boolean value"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="NumPy Generator"):
        RandomSampler(range(3), generator=7)


def test_same_seed_same_order():
    assert list(RandomSampler(range(30), generator=rng(4))) == \
        list(RandomSampler(range(30), generator=rng(4)))
    dg.manual_seed(3)
    first = list(WeightedRandomSampler(np.ones(30), 30))
    dg.manual_seed(3)
    assert list(WeightedRandomSampler(np.ones(30), 30)) == first
    sampler = SubsetRandomSampler(range(30))   # without a generator: a new order each pass
    assert list(sampler) != list(sampler)


def test_subset_random_sampler_yields_only_the_subset():
    subset = [3, 7, 11, 19, 23]
    order = list(SubsetRandomSampler(subset, generator=rng()))
    assert sorted(order) == subset and len(SubsetRandomSampler(subset)) == 5


def test_weighted_sampler_follows_the_weights_and_never_draws_a_zero_weight():
    weights = [1.0, 2.0, 0.0, 3.0, 4.0]
    drawn = np.array(list(WeightedRandomSampler(weights, 20000, generator=rng(1))))
    frequencies = np.bincount(drawn, minlength=5) / drawn.size
    np.testing.assert_allclose(frequencies, np.array(weights) / 10, atol=0.015)
    assert frequencies[2] == 0
    once = list(WeightedRandomSampler(weights, 4, replacement=False, generator=rng()))
    assert sorted(once) == [0, 1, 3, 4]


def test_weighted_sampler_checks_its_arguments():
    with pytest.raises(ValueError, match="weights should be a 1d sequence"):
        WeightedRandomSampler(np.ones((2, 2)), 4)
    with pytest.raises(ValueError, match="non-negative"):
        WeightedRandomSampler([1.0, -1.0], 4)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        WeightedRandomSampler([1.0], 0)
    with pytest.raises(ValueError, match="without replacement from 1 non-zero weights"):
        WeightedRandomSampler([1.0, 0.0], 2, replacement=False)


def test_batch_sampler_batches_and_drop_last():
    assert list(BatchSampler(SequentialSampler(range(10)), 3, drop_last=False)) == \
        [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert list(BatchSampler(range(10), 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert len(BatchSampler(range(10), 3, False)) == 4
    assert len(BatchSampler(range(10), 3, True)) == 3
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        BatchSampler(range(10), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value"):
        BatchSampler(range(10), 2, 0)


# ---------------------------------------------------------------- the DataLoader with samplers
def test_loader_with_a_sampler_batches_its_order():
    loader = DataLoader(numbered(), batch_size=4, sampler=[9, 8, 7, 6, 5, 4, 3])
    assert indices_of(loader) == [[9, 8, 7, 6], [5, 4, 3]]
    subset = DataLoader(numbered(), batch_size=2, sampler=SubsetRandomSampler([1, 3, 5]), seed=0)
    got = indices_of(subset)
    assert [len(b) for b in got] == [2, 1] and sorted(i for b in got for i in b) == [1, 3, 5]


def test_loader_seeds_samplers_without_a_generator():
    def run(seed):
        sampler = WeightedRandomSampler(np.arange(1.0, 11.0), 10)
        loader = DataLoader(numbered(), batch_size=3, sampler=sampler, seed=seed)
        return [indices_of(loader) for _ in range(2)]

    assert run(5) == run(5)
    assert run(5)[0] != run(5)[1] and run(5) != run(6)
    # RandomSampler in a loader is shuffle=True: the same orders for the same seed.
    shuffled = DataLoader(numbered(), batch_size=3, shuffle=True, seed=2)
    sampled = DataLoader(numbered(), batch_size=3, sampler=RandomSampler(numbered()), seed=2)
    assert indices_of(shuffled) == indices_of(sampled)


def test_loader_with_a_batch_sampler_gives_its_batches():
    loader = DataLoader(numbered(), batch_sampler=[[0, 5], [1, 2, 3], [9]])
    assert indices_of(loader) == [[0, 5], [1, 2, 3], [9]] and len(loader) == 3
    assert loader.batch_size is None
    batches = DataLoader(numbered(), batch_sampler=BatchSampler(SequentialSampler(range(10)), 4,
                                                                drop_last=True), num_workers=2)
    assert indices_of(batches) == [[0, 1, 2, 3], [4, 5, 6, 7]]


_EXCLUSIVE = ("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
              "and drop_last")


@pytest.mark.parametrize("kwargs, torch_message, detail", [
    (dict(sampler=[0, 1], shuffle=True), "sampler option is mutually exclusive with shuffle", ""),
    (dict(batch_sampler=[[0]], batch_size=2), _EXCLUSIVE, "; got batch_size=2"),
    (dict(batch_sampler=[[0]], shuffle=True), _EXCLUSIVE, "; got shuffle=True"),
    (dict(batch_sampler=[[0]], sampler=[0]), _EXCLUSIVE, "; got sampler=\\[0\\]"),
    (dict(batch_sampler=[[0]], drop_last=True), _EXCLUSIVE, "; got drop_last=True"),
])
def test_conflicting_options_raise_torch_like_messages(kwargs, torch_message, detail):
    with pytest.raises(ValueError, match=torch_message):
        tud.DataLoader(range(10), **kwargs)
    with pytest.raises(ValueError, match=torch_message + detail):   # torch's, and which one
        DataLoader(numbered(), **kwargs)


@pytest.mark.parametrize("make", [
    lambda m: m.DataLoader(range(10), batch_size=3),
    lambda m: m.DataLoader(range(10), batch_size=3, drop_last=True),
    lambda m: m.DataLoader(range(10), batch_size=4, sampler=m.WeightedRandomSampler([1.0] * 10, 7)),
    lambda m: m.DataLoader(range(10), batch_size=4, drop_last=True,
                           sampler=m.RandomSampler(range(10), replacement=True, num_samples=23)),
    lambda m: m.DataLoader(range(10), batch_size=2, sampler=m.SubsetRandomSampler([1, 2, 3])),
    lambda m: m.DataLoader(range(10), batch_sampler=m.BatchSampler(range(10), 3, False)),
    lambda m: m.DataLoader(range(10), batch_sampler=m.BatchSampler(range(10), 3, True)),
])
def test_len_is_torch_len(make):
    import deepgrad.data as dgd

    class Numbers(dgd.Dataset):  # deepgrad's loader wants a Dataset, torch's takes a range
        def __getitem__(self, i):
            return i

        def __len__(self):
            return 10

    class Deepgrad:
        def __getattr__(self, name):
            return getattr(dgd, name)

        def DataLoader(self, dataset, **kwargs):
            return dgd.DataLoader(Numbers(), **kwargs)

    assert len(make(Deepgrad())) == len(make(tud))


# ---------------------------------------------------------------- IterableDataset
class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        for i in range(self.n):
            yield np.array([i, 10 * i]), i


class SizedStream(Stream):
    def __len__(self):
        return self.n


def test_iterable_dataset_is_batched_in_order_with_a_partial_last_batch():
    batches = list(DataLoader(Stream(7), batch_size=3, num_workers=2))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches[0][0].shape == (3, 2)
    dropped = DataLoader(Stream(7), batch_size=3, drop_last=True)
    assert [b[1].tolist() for b in dropped] == [[0, 1, 2], [3, 4, 5]]
    assert get_worker_info() is None


def test_iterable_dataset_len_only_with_its_own_len():
    with pytest.raises(TypeError, match="without __len__"):
        len(DataLoader(Stream(7), batch_size=3))
    assert len(DataLoader(SizedStream(7), batch_size=3)) == 3
    assert len(DataLoader(SizedStream(7), batch_size=3, drop_last=True)) == 2


@pytest.mark.parametrize("kwargs, name", [(dict(shuffle=True), "shuffle"),
                                          (dict(sampler=[0]), "sampler"),
                                          (dict(batch_sampler=[[0]]), "batch_sampler")])
def test_iterable_dataset_refuses_shuffle_and_samplers(kwargs, name):
    with pytest.raises(ValueError, match=f"DataLoader with IterableDataset: expected unspecified "
                                         f"{name} option"):
        DataLoader(Stream(4), **kwargs)


def test_iterable_dataset_resumes_mid_epoch():
    reference = [[b[1].tolist() for b in DataLoader(Stream(10), batch_size=3)]]
    loader = DataLoader(Stream(10), batch_size=3, seed=1)
    for index, _ in enumerate(loader):
        if index == 1:
            state = loader.state_dict()
            break
    resumed = DataLoader(Stream(10), batch_size=3)
    resumed.load_state_dict(state)
    assert [b[1].tolist() for b in resumed] == reference[0][2:]
    assert [b[1].tolist() for b in resumed] == reference[0]   # then whole epochs again


# ---------------------------------------------------------------- resuming with samplers
@pytest.mark.parametrize("generator", [None, 7])
@pytest.mark.parametrize("stop", [1, 3])
def test_loader_resumes_a_random_sampler_mid_epoch(generator, stop):
    def loader():
        sampler = WeightedRandomSampler(np.arange(1.0, 21.0), 20,
                                        generator=None if generator is None else rng(generator))
        return DataLoader(numbered(20), batch_size=6, sampler=sampler, seed=4)

    whole = loader()
    reference = [indices_of(whole) for _ in range(3)]
    interrupted = loader()
    indices_of(interrupted)
    for index, _ in enumerate(interrupted):
        if index + 1 == stop:
            state = interrupted.state_dict()
            break
    resumed = loader()
    resumed.load_state_dict(state)
    assert indices_of(resumed) == reference[1][stop:]
    assert indices_of(resumed) == reference[2]


class Reversed(Sampler):
    def __init__(self, n=10):
        self.n = n

    def __iter__(self):
        return iter(range(self.n - 1, -1, -1))

    def __len__(self):
        return self.n


def test_a_sampler_without_state_is_refused_on_resume():
    loader = DataLoader(numbered(), batch_size=4, sampler=Reversed())
    assert indices_of(loader)[0] == [9, 8, 7, 6]
    with pytest.raises(ValueError, match="a sampler Reversed without state_dict\\(\\) and "
                                         "load_state_dict\\(\\)"):
        loader.load_state_dict(loader.state_dict())


def _fit(x, y, generator, checkpoint=None, resume=None, stop_at=None):
    dg.manual_seed(11)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 3))
    opt = optim.Adam(model.parameters(), lr=1e-2)

    class Stop(dg.callbacks.Callback):
        def on_batch_end(self, batch, logs):
            if (self.trainer.epoch, batch) == stop_at:
                self.trainer.stop_training = True

    callbacks = [Stop()] if checkpoint is None else [
        dg.callbacks.ModelCheckpoint(checkpoint, every_n_batches=2), Stop()]
    weights = np.where(y == 0, 3.0, 1.0)   # oversample class 0
    sampler = WeightedRandomSampler(weights, len(y),
                                    generator=None if generator is None else rng(generator))
    loader = DataLoader(TensorDataset(x, y), batch_size=16, sampler=sampler, seed=5)
    trainer = dg.Trainer(model, nn.CrossEntropyLoss(), opt, verbose=0, callbacks=callbacks)
    dg.manual_seed(11)
    trainer.fit(loader, epochs=3, resume_from=resume)
    return trainer


@pytest.mark.parametrize("generator", [None, 3])
def test_trainer_with_a_weighted_sampler_resumes_mid_epoch_bit_exactly(tmp_path, generator):
    x, y = make_spiral(128, noise=0.2, seed=0)   # 8 batches of 16 per epoch
    whole = _fit(x, y, generator)
    path = tmp_path / "ckpt.safetensors"
    _fit(x, y, generator, checkpoint=path, stop_at=(1, 5))   # killed after batch 6's checkpoint
    dg.manual_seed(999)   # the resumed run must not depend on the global seed
    resumed = _fit(x, y, generator, checkpoint=tmp_path / "again.safetensors", resume=path)
    for key, value in whole.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[key], value, err_msg=key)
    assert resumed.history.history["loss"] == whole.history.history["loss"]


def test_trainer_refuses_a_checkpoint_of_another_sampler(tmp_path):
    x, y = make_spiral(128, noise=0.2, seed=0)
    path = tmp_path / "ckpt.safetensors"
    _fit(x, y, None, checkpoint=path, stop_at=(0, 3))
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 3))
    trainer = dg.Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), verbose=0)
    other = DataLoader(TensorDataset(x, y), batch_size=16, sampler=RandomSampler(x), seed=5)
    with pytest.raises(CheckpointError, match="sampler='WeightedRandomSampler', but this loader "
                                              "has sampler='RandomSampler'"):
        trainer.fit(other, epochs=3, resume_from=path)


def test_trainer_fits_a_sized_iterable_dataset():
    x, y = make_spiral(96, noise=0.2, seed=0)

    class Spiral(IterableDataset):
        def __iter__(self):
            return zip(x, y)

        def __len__(self):
            return len(y)

    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    trainer = dg.Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), verbose=0)
    history = trainer.fit(DataLoader(Spiral(), batch_size=32), epochs=2)
    assert len(history.history["loss"]) == 2 and trainer.batches_per_epoch == 3


def test_trainer_refuses_to_resume_a_sampler_without_state(tmp_path):
    x, y = make_spiral(64, noise=0.2, seed=0)
    path = tmp_path / "ckpt.safetensors"

    def fit(resume=None):
        model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))
        trainer = dg.Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                             verbose=0, callbacks=[dg.callbacks.ModelCheckpoint(path)])
        loader = DataLoader(TensorDataset(x, y), batch_size=16, sampler=Reversed(64))
        trainer.fit(loader, epochs=1, resume_from=resume)

    fit()
    with pytest.raises(CheckpointError, match="its data loader had a sampler Reversed without "
                                              "state_dict\\(\\) and load_state_dict\\(\\)"):
        fit(resume=path)


def test_a_loader_state_from_before_samplers_still_loads():
    reference = indices_of(DataLoader(numbered(20), batch_size=6, shuffle=True, seed=2))
    old = {"epoch": 0, "position": 2, "seed": 2, "num_examples": 20, "batch_size": 6,
           "shuffle": True, "drop_last": False}
    loader = DataLoader(numbered(20), batch_size=6, shuffle=True, seed=0)
    loader.load_state_dict(old)
    assert indices_of(loader) == reference[2:]
