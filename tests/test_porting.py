"""PyTorch code ports by replacing ``torch`` with ``dg``: the idioms of its tutorials and training
scripts (device-agnostic setup, ``torch.utils.data``, ``x.view(x.size(0), -1)``, dtype names,
``torch.save``/``torch.load`` of checkpoint dicts) run, and give what PyTorch gives."""

from collections import OrderedDict

import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import nn


def test_dtype_names_and_constants_are_pytorchs(torch):
    for name in ("float", "double", "long", "int", "bool", "uint8", "int8", "int16", "float32",
                 "float64", "int32", "int64"):
        ours, theirs = getattr(dg, name), getattr(torch, name)
        assert ours.name == str(theirs).removeprefix("torch."), name
        assert dg.zeros(2, dtype=ours).dtype == ours
    assert (dg.inf, dg.pi, dg.e) == (torch.inf, torch.pi, torch.e) and np.isnan(dg.nan)
    namespace: dict = {}
    exec("from deepgrad import *", namespace)
    assert not {"float", "int", "bool", "long", "double"} & set(namespace)


def test_type_is_and_numel_as_torch(torch):
    for values, dtype in (([1.5], "float32"), ([1.5], "float64"), ([1], "int64"),
                          ([True], "bool"), ([1], "uint8"), ([1], "int32")):
        ours = dg.tensor(values, dtype=getattr(dg, dtype))
        theirs = torch.tensor(values, dtype=getattr(torch, dtype))
        assert ours.type() == theirs.type().replace("torch.", "deepgrad."), dtype
    x = dg.tensor([1.7, -2.2], requires_grad=True)
    assert x.type(dg.float64).dtype == dg.float64
    assert x.type("torch.LongTensor").tolist() == [1, -2] == dg.tensor([1.7, -2.2]).long().tolist()
    assert x.type("deepgrad.DoubleTensor").requires_grad
    with pytest.raises(TypeError, match=r"unknown type 'torch\.HalfTensor'"):
        x.type("torch.HalfTensor")
    assert dg.is_tensor(x) and not dg.is_tensor(x.data) and not dg.is_tensor([1.0])
    assert dg.numel(dg.ones(2, 3)) == torch.numel(torch.ones(2, 3)) == 6


def test_where_with_a_condition_alone_is_nonzero_as_a_tuple(torch):
    condition = np.array([[True, False, True], [False, True, True]])
    ours, theirs = dg.where(dg.tensor(condition)), torch.where(torch.tensor(condition))
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(TypeError, match="condition alone, or a condition and both"):
        dg.where(dg.tensor(condition), 1.0)


def test_torch_utils_data_is_deepgrads_data():
    import deepgrad.utils.data as data
    from deepgrad.utils.data import DataLoader, TensorDataset, random_split

    assert data.DataLoader is DataLoader is dg.data.DataLoader is dg.utils.data.DataLoader
    assert TensorDataset is dg.data.TensorDataset and random_split is dg.data.random_split
    assert set(data.__all__) == set(dg.data.__all__)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv", nn.Conv2d(1, 8, 3, padding=1, bias=False)),
            ("bn", nn.BatchNorm2d(8)),
            ("relu", nn.ReLU(inplace=True)),
            ("pool", nn.MaxPool2d(2)),
        ]))
        self.fc = nn.Linear(8 * 4 * 4, 2)

    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return self.fc(x)


def test_a_pytorch_tutorials_training_loop_runs_as_written(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.standard_normal((256, 1, 8, 8)).astype(np.float32)
    labels = (images.mean(axis=(1, 2, 3)) > 0).astype(np.int64)
    dg.manual_seed(0)
    dg.cuda.manual_seed_all(0)
    device = dg.device("cuda" if dg.cuda.is_available() else "cpu")
    loader = dg.utils.data.DataLoader(dg.utils.data.TensorDataset(images, labels),
                                      batch_size=32, shuffle=True)
    model = Net().to(device)
    optimizer = dg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = dg.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    for _ in range(4):
        model.train()
        correct = 0
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad(set_to_none=True)
            out = model(xb)
            loss = F.cross_entropy(out, yb, label_smoothing=0.1)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            optimizer.step()
            correct += (out.argmax(dim=1) == yb).sum().item()
        scheduler.step()
    assert correct / len(loader.dataset) > 0.85
    path = tmp_path / "checkpoint.safetensors"
    dg.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 4}, path)
    checkpoint = dg.load(path, map_location=device)
    restored = Net()
    restored.load_state_dict(checkpoint["model"])
    model.eval()
    restored.eval()
    with dg.no_grad():
        x = dg.tensor(images[:16], device=device)
        np.testing.assert_array_equal(restored(x).numpy(), model(x).numpy())
    assert checkpoint["epoch"] == 4


def test_cpu_and_cuda_methods_as_on_a_machine_without_a_gpu():
    model, x = nn.Linear(2, 2), dg.ones(1, 2)
    assert model.cpu() is model and x.cpu() is x
    for call, device in ((lambda: model.cuda(), "cuda"), (lambda: x.cuda(1), "cuda:1"),
                         (lambda: x.cuda("cuda:0"), "cuda:0"),
                         (lambda: model.cuda(dg.device("cuda", 2)), "cuda:2")):
        with pytest.raises(ValueError, match=f"device '{device}' is not available"):
            call()


def test_generators_seed_factories_splits_and_loaders_as_torchs(torch):
    assert dg.Generator().initial_seed() == torch.Generator().initial_seed()
    g = dg.Generator().manual_seed(42)
    assert g.initial_seed() == 42 and isinstance(g, np.random.Generator)
    draws = [dg.randn(3, generator=g), dg.rand(2, generator=g), dg.randint(0, 9, (4,), generator=g),
             dg.randperm(5, generator=g), dg.bernoulli(dg.full((3,), 0.5), generator=g),
             dg.multinomial(dg.tensor([0.2, 0.8]), 1, generator=g)]
    dg.randn(10)  # the global generator is a separate stream
    again = dg.Generator().manual_seed(42)
    replay = [dg.randn(3, generator=again), dg.rand(2, generator=again),
              dg.randint(0, 9, (4,), generator=again), dg.randperm(5, generator=again),
              dg.bernoulli(dg.full((3,), 0.5), generator=again),
              dg.multinomial(dg.tensor([0.2, 0.8]), 1, generator=again)]
    for a, b in zip(draws, replay, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    state = g.get_state()
    first = dg.rand(4, generator=g).numpy()
    g.set_state(state)
    np.testing.assert_array_equal(dg.rand(4, generator=g).numpy(), first)
    assert g.seed() == g.initial_seed() != 42
    data = dg.utils.data.TensorDataset(np.arange(20))
    splits = [[s.indices.tolist() for s in dg.utils.data.random_split(
        data, [0.7, 0.3], generator=dg.Generator().manual_seed(7))] for _ in range(2)]
    assert splits[0] == splits[1] and sorted(splits[0][0] + splits[0][1]) == list(range(20))
    orders = [[b.tolist() for (b,) in dg.utils.data.DataLoader(
        data, batch_size=5, shuffle=True, generator=dg.Generator().manual_seed(3))]
        for _ in range(2)]
    assert orders[0] == orders[1] != [list(range(i, i + 5)) for i in range(0, 20, 5)]
    with pytest.raises(TypeError, match=r"generator must be a dg\.Generator"):
        dg.randn(2, generator=0)
    with pytest.raises(ValueError, match="seed or generator, not both"):
        dg.utils.data.DataLoader(data, seed=1, generator=dg.Generator())
    with pytest.raises(ValueError, match="cuda"):
        dg.Generator(device="cuda")


def test_pytorchs_worker_options_of_the_dataloader():
    data = dg.utils.data.TensorDataset(np.arange(40))
    started = []
    loader = dg.utils.data.DataLoader(data, batch_size=4, shuffle=True, seed=0, num_workers=2,
                                      prefetch_factor=3, persistent_workers=True,
                                      worker_init_fn=started.append, pin_memory=True)
    plain = dg.utils.data.DataLoader(data, batch_size=4, shuffle=True, seed=0)
    for _ in range(3):
        assert [b.tolist() for (b,) in loader] == [b.tolist() for (b,) in plain]
    assert sorted(started) == [0, 1]  # persistent: the two threads started once
    started.clear()
    fresh = dg.utils.data.DataLoader(data, batch_size=4, num_workers=2,
                                     worker_init_fn=started.append)
    for _ in range(2):
        list(fresh)
    assert sorted(started) == [0, 0, 1, 1]  # one pair of threads per epoch
    for options in ({"prefetch_factor": 2}, {"persistent_workers": True}):
        with pytest.raises(ValueError, match="need num_workers > 0"):
            dg.utils.data.DataLoader(data, **options)
    with pytest.raises(ValueError, match="prefetch_factor must be an integer >= 1"):
        dg.utils.data.DataLoader(data, num_workers=1, prefetch_factor=0)


def test_the_dcgan_tutorials_idioms():
    dg.manual_seed(0)
    generator = nn.Sequential(nn.ConvTranspose2d(4, 8, 4, 1, 0, bias=False), nn.BatchNorm2d(8),
                              nn.ReLU(True), nn.ConvTranspose2d(8, 1, 4, 2, 1, bias=False),
                              nn.Tanh())
    critic = nn.Sequential(nn.Conv2d(1, 8, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
                           nn.Conv2d(8, 1, 4, 1, 0, bias=False), nn.Sigmoid())

    def weights_init(m):  # as written in the tutorial: it initializes .data
        if m.__class__.__name__.find("Conv") != -1:
            nn.init.normal_(m.weight.data, 0.0, 0.02)
        elif m.__class__.__name__.find("BatchNorm") != -1:
            nn.init.normal_(m.weight.data, 1.0, 0.02)
            nn.init.constant_(m.bias.data, 0)

    generator.apply(weights_init)
    critic.apply(weights_init)
    assert abs(float(critic[0].weight.std()) - 0.02) < 0.005
    assert float(generator[1].bias.abs().sum()) == 0
    criterion = nn.BCELoss()
    opt_d = dg.optim.Adam(critic.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = dg.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = dg.rand(8, 1, 8, 8) * 2 - 1
    critic.zero_grad()
    label = dg.full((real.size(0),), 1.0, dtype=dg.float, device="cpu")
    err_real = criterion(critic(real).view(-1), label)
    err_real.backward()
    fake = generator(dg.randn(8, 4, 1, 1))
    label.fill_(0.0)
    err_fake = criterion(critic(fake.detach()).view(-1), label)
    err_fake.backward()
    opt_d.step()
    assert all(p.grad is None for p in generator.parameters())
    generator.zero_grad()
    label.fill_(1.0)
    criterion(critic(fake).view(-1), label).backward()
    opt_g.step()
    assert all(p.grad is not None for p in generator.parameters())


class CausalSelfAttention(nn.Module):
    """nanoGPT's attention, as written there."""

    def __init__(self, n_embd, n_head, block_size):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head, self.n_embd = n_head, n_embd
        self.register_buffer("bias", dg.tril(dg.ones(block_size, block_size))
                             .view(1, 1, block_size, block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / np.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class TinyGPT(nn.Module):
    def __init__(self, vocab=12, block_size=8, n_embd=16):
        super().__init__()
        self.block_size = block_size
        self.wte, self.wpe = nn.Embedding(vocab, n_embd), nn.Embedding(block_size, n_embd)
        self.attn, self.ln = CausalSelfAttention(n_embd, 2, block_size), nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.wte.weight = self.lm_head.weight  # weight tying

    def forward(self, idx, targets=None):
        pos = dg.arange(0, idx.size(1), dtype=dg.long, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        logits = self.lm_head(self.ln(x + self.attn(x)))
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1),
                                       ignore_index=-1)

    @dg.no_grad()
    def generate(self, idx, max_new_tokens, top_k=None):
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.block_size:])
            logits = logits[:, -1, :]
            if top_k is not None:
                v, _ = dg.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("Inf")
            idx = dg.cat((idx, dg.multinomial(F.softmax(logits, dim=-1), num_samples=1)), dim=1)
        return idx


def test_a_nanogpt_style_model_trains_and_samples_as_written():
    dg.manual_seed(1337)
    model = TinyGPT()
    params = dict(model.named_parameters())
    assert "lm_head.weight" not in params  # tied: listed once, under its first name (PyTorch)
    groups = [{"params": [p for p in params.values() if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0}]
    optimizer = dg.optim.AdamW(groups, lr=1e-2, betas=(0.9, 0.95))
    data = dg.tensor(np.tile(np.arange(12), 40), dtype=dg.long)
    losses = []
    for _ in range(40):
        ix = dg.randint(len(data) - 8, (8,))  # PyTorch's randint(high, size)
        x = dg.stack([data[i:i + 8] for i in ix])
        y = dg.stack([data[i + 1:i + 9] for i in ix])
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    sample = model.generate(dg.zeros((1, 1), dtype=dg.long), 6, top_k=3)
    assert sample.shape == (1, 7) and sample.dtype == np.int64


class LegendrePolynomial3(dg.autograd.Function):
    """The custom Function of PyTorch's "Learning PyTorch with examples", as written there."""

    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


def test_a_custom_function_saving_for_backward_as_in_pytorch(torch):
    x = np.linspace(-1.0, 1.0, 7)

    class TorchLegendre(torch.autograd.Function):
        forward = staticmethod(LegendrePolynomial3.forward)
        backward = staticmethod(LegendrePolynomial3.backward)

    ours, theirs = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = LegendrePolynomial3.apply(ours * 2.0), TorchLegendre.apply(theirs * 2.0)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)
    assert dg.gradcheck(LegendrePolynomial3.apply, [dg.tensor(x, requires_grad=True)])
    with dg.no_grad():
        LegendrePolynomial3.apply(dg.tensor(x))  # saving without a graph: nothing kept
    h = dg.tensor(x, requires_grad=True) * 1.0
    out = LegendrePolynomial3.apply(h)
    h += 1  # the saved input changed in place: backward refuses, as PyTorch's
    with pytest.raises(dg.BackwardError, match="modified in place"):
        out.sum().backward()
