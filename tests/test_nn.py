"""nn: parameter discovery, state dicts, layers, the MLP, losses and checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tinygrad_mlp import Tensor, nn
from tinygrad_mlp.gradcheck import gradcheck


class Block(nn.Module):
    def __init__(self):
        self.scale = Tensor([2.0], requires_grad=True)
        self.fixed = Tensor([1.0])  # does not require grad: not a parameter
        self.inner = nn.Linear(3, 2)

    def forward(self, x):
        return self.inner(x) * self.scale


class Net(nn.Module):
    def __init__(self):
        self.first = nn.Linear(4, 3)
        self.blocks = [Block(), Block()]
        self.shared = self.first.W  # the same tensor twice: listed once
        self.last = Tensor(np.ones(2), requires_grad=True)

    def forward(self, x):
        x = self.first(x)
        for b in self.blocks:
            x = b(x).sum(axis=-1, keepdims=True) * Tensor(np.ones(3))
        return x


def test_parameters_in_assignment_order_with_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == [
        "first.W", "first.b",
        "blocks.0.scale", "blocks.0.inner.W", "blocks.0.inner.b",
        "blocks.1.scale", "blocks.1.inner.W", "blocks.1.inner.b",
        "last",
    ]  # fmt: skip
    assert net.parameters()[0] is net.first.W and len(net.parameters()) == 9


def test_zero_grad_clears_every_parameter():
    net = Net()
    net(Tensor(np.ones((2, 4)))).sum().backward()
    assert net.first.W.grad is not None
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_round_trip_copies_values():
    a, b = nn.MLP((5, 4, 3), rng=np.random.default_rng(0)), nn.MLP((5, 4, 3), rng=np.random.default_rng(1))
    state = a.state_dict()
    assert list(state) == ["layers.0.W", "layers.0.b", "layers.1.W", "layers.1.b"]
    w_before = b.layers[0].W.data
    b.load_state_dict(state)
    assert b.layers[0].W.data is w_before  # loaded in place
    for name, p in b.named_parameters():
        np.testing.assert_array_equal(p.data, state[name])
    state["layers.0.W"][0, 0] = 99.0  # a state dict holds copies
    assert a.layers[0].W.data[0, 0] != 99.0


def test_load_state_dict_is_strict_and_names_the_problem():
    m = nn.MLP((5, 4, 3))
    state = m.state_dict()
    before = m.layers[0].W.data.copy()
    with pytest.raises(KeyError, match="missing layers.1.b"):
        m.load_state_dict({k: v for k, v in state.items() if k != "layers.1.b"})
    with pytest.raises(KeyError, match="unexpected layers.2.W"):
        m.load_state_dict({**state, "layers.2.W": np.zeros(1)})
    bad = {**state, "layers.0.W": np.zeros((4, 5)), "layers.1.W": np.zeros((4, 3)) + 7}
    with pytest.raises(
        ValueError, match=r"layers.0.W has shape \(4, 5\) in the state, \(5, 4\) in the model"
    ):
        m.load_state_dict(bad)
    np.testing.assert_array_equal(m.layers[0].W.data, before)
    assert not np.any(m.layers[1].W.data == 7)  # nothing was half-loaded


@pytest.mark.parametrize(
    "init,check",
    [
        ("original", lambda w, i, o: abs(w.std() - 0.01) < 0.001),
        (
            "xavier",
            lambda w, i, o: (
                np.abs(w).max() <= np.sqrt(6 / (i + o)) and abs(w.std() - np.sqrt(2 / (i + o))) < 0.01
            ),
        ),
        ("he", lambda w, i, o: abs(w.std() - np.sqrt(2 / i)) < 0.01),
    ],
)
def test_linear_layout_and_initialisations(init, check):
    layer = nn.Linear(300, 200, init=init, rng=np.random.default_rng(0))
    assert layer.W.shape == (300, 200) and layer.b.shape == (200,)
    assert layer.W.dtype == np.float32 and not layer.b.data.any()
    assert check(layer.W.data, 300, 200)
    x = np.random.default_rng(1).standard_normal((7, 300)).astype(np.float32)
    np.testing.assert_allclose(layer(Tensor(x)).data, x @ layer.W.data + layer.b.data, rtol=1e-6)


def test_initialisation_from_global_state_or_generator():
    np.random.seed(5)
    a = nn.Linear(3, 2).W.data
    np.random.seed(5)
    np.testing.assert_array_equal(a, nn.Linear(3, 2).W.data)
    np.random.seed(5)
    np.testing.assert_array_equal(a, (np.random.standard_normal((3, 2)) * 0.01).astype(np.float32))
    assert not np.array_equal(a, nn.Linear(3, 2, rng=np.random.default_rng(5)).W.data)


def test_bad_init_and_activation_names():
    with pytest.raises(ValueError, match="unknown initialisation 'glorot'"):
        nn.Linear(2, 2, init="glorot")
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        nn.MLP((4, 2), activation="gelu")


@pytest.mark.parametrize(
    "act,np_act",
    [("sigmoid", lambda z: 1 / (1 + np.exp(-z))), ("relu", lambda z: np.maximum(z, 0)), ("tanh", np.tanh)],
)
def test_mlp_forward_matches_numpy(act, np_act):
    m = nn.MLP(
        (6, 5, 4, 3),
        activation=act,
        output_activation=None,
        init="xavier",
        dtype=np.float64,
        rng=np.random.default_rng(0),
    )
    x = np.random.default_rng(1).standard_normal((8, 6))
    h = x
    for i, layer in enumerate(m.layers):
        h = h @ layer.W.data + layer.b.data
        if i < 2:
            h = np_act(h)
    np.testing.assert_allclose(m(Tensor(x)).data, h, rtol=1e-12)
    assert [type(layer) for layer in m.layers] == [nn.Linear] * 3


def test_default_mlp_is_the_original_network():
    m = nn.MLP()
    assert [l.W.shape for l in m.layers] == [(784, 128), (128, 64), (64, 32), (32, 10)]
    out = m(Tensor(np.zeros((2, 784), np.float32)))
    assert out.dtype == np.float32 and out.op == "sigmoid"


# ---------------------------------------------------------------- losses


def _ref_cross_entropy(logits, labels):
    s = logits - logits.max(axis=1, keepdims=True)
    log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(labels)), labels].mean()


def test_cross_entropy_matches_reference_for_indices_and_one_hot():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 4))
    labels = np.array([0, 3, 1, 1, 2, 0])
    want = _ref_cross_entropy(logits, labels)
    a = Tensor(logits, requires_grad=True)
    loss = nn.cross_entropy(a, labels)
    np.testing.assert_allclose(loss.data, want, rtol=1e-12)
    loss.backward()
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(a.grad, (p - nn.one_hot(labels, 4, np.float64)) / 6, rtol=1e-12)
    np.testing.assert_allclose(nn.cross_entropy(Tensor(logits), nn.one_hot(labels, 4)).data, want, rtol=1e-6)
    assert gradcheck(lambda t: nn.cross_entropy(t, labels), [Tensor(logits, requires_grad=True)])
    soft = rng.dirichlet(np.ones(4), size=6)
    assert gradcheck(lambda t: nn.cross_entropy(t, soft), [Tensor(logits, requires_grad=True)])


def test_cross_entropy_stable_for_huge_logits():
    logits = Tensor([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0]], requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = nn.cross_entropy(logits, np.array([0, 0]))
        loss.backward()
    np.testing.assert_allclose(loss.data, 0.5 * 1e4, rtol=1e-6)
    assert np.all(np.isfinite(logits.grad))


def test_cross_entropy_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"logits \(3, 4\) and class indices \(2,\)"):
        nn.cross_entropy(Tensor(np.zeros((3, 4))), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"in \[0, 4\)"):
        nn.cross_entropy(Tensor(np.zeros((2, 4))), np.array([0, 4]))
    with pytest.raises(ValueError, match=r"target \(2, 3\)"):
        nn.cross_entropy(Tensor(np.zeros((2, 4))), np.zeros((2, 3)))


def test_mse_and_sse_losses():
    rng = np.random.default_rng(0)
    pred, target = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    np.testing.assert_allclose(
        nn.mse_loss(Tensor(pred), target).data, ((pred - target) ** 2).mean(), rtol=1e-12
    )
    np.testing.assert_allclose(
        nn.sse_loss(Tensor(pred), target).data, 0.5 * ((pred - target) ** 2).sum(), rtol=1e-12
    )
    t = Tensor(pred, requires_grad=True)
    nn.sse_loss(t, target).backward()
    np.testing.assert_allclose(t.grad, pred - target, rtol=1e-12)  # the original's dout = y_pred - y
    assert gradcheck(
        lambda p, q: nn.sse_loss(p, q), [Tensor(pred, requires_grad=True), Tensor(target, requires_grad=True)]
    )
    assert gradcheck(lambda p: nn.mse_loss(p, target), [Tensor(pred, requires_grad=True)])


# ---------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_atomic_and_pickle_free(tmp_path):
    m = nn.MLP(
        (6, 5, 4), activation="tanh", output_activation=None, dtype=np.float64, rng=np.random.default_rng(0)
    )
    path = str(tmp_path / "sub" / "model.npz")
    nn.save_checkpoint(path, m, extra={"m.0": np.ones(3)}, meta={"note": "hello"})
    assert os.listdir(tmp_path / "sub") == ["model.npz"]  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # as open() would make it, not mkstemp's 0600
    with np.load(path, allow_pickle=False) as f:
        assert "param/layers.0.W" in f.files
    m2, extra, meta = nn.load_checkpoint(path)
    assert m2.config() == m.config() and meta["note"] == "hello"
    np.testing.assert_array_equal(extra["m.0"], np.ones(3))
    for (n1, p1), (n2, p2) in zip(m.named_parameters(), m2.named_parameters()):
        assert n1 == n2 and p1.dtype == p2.dtype
        np.testing.assert_array_equal(p1.data, p2.data)


def test_corrupt_checkpoint_is_named(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="bad.npz: not a checkpoint"):
        nn.load_checkpoint(str(path))
    # a zip archive cut short is named as damaged
    good = nn.save_checkpoint(str(tmp_path / "good.npz"), nn.MLP((784, 3, 10)))
    path.write_bytes(Path(good).read_bytes()[:300])
    with pytest.raises(ValueError, match="bad.npz: not a readable checkpoint: a damaged .npz archive"):
        nn.load_checkpoint(str(path))
