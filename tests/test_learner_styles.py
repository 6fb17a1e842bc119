"""check_backward on learners' code as written: course-style function pairs and
book-style classes (tests/learner_layers.py, written for these tests), each correct
(passes, every row) and with one planted bug (fails in exactly the row it breaks);
whatever the learner passed is unchanged afterwards."""

import copy

import learner_layers as L
import numpy as np
import pytest

from tinygrad_mlp import Tensor, check_backward
from tinygrad_mlp.layercheck import LayerCheckError

R = np.random.default_rng(0)


def _works(probe) -> bool:
    try:
        out = probe(Tensor(R.standard_normal((3, 4)), requires_grad=True))
    except Exception:
        return False
    return isinstance(out, Tensor) and out.requires_grad


# numpy functions other work adds to the engine; a case that needs one is expected to
# fail (strictly) only while it is missing
PROBES = {
    "np.var": lambda t: np.var(t, axis=0),
    "ndarray.var": lambda t: t.var(axis=1, keepdims=True),
    "np.pad": lambda t: np.pad(t, ((1, 1), (1, 1)), mode="constant"),
}


def needs(*names):
    missing = [n for n in names if not _works(PROBES[n])]
    if not missing:
        return []
    return [
        pytest.mark.xfail(
            reason=f"needs {', '.join(missing)} from the numpy-breadth work",
            strict=True,
            raises=LayerCheckError,
        )
    ]


def r(*shape, scale=1.0):
    return scale * R.standard_normal(shape)


X23 = r(4, 2, 3)
W = r(6, 5)
B = r(5)
BN = {"mode": "train", "momentum": 0.9}
CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
LABELS = np.array([0, 2, 1, 2])
WORDS = np.array([[0, 2, 2], [3, 0, 1]])  # repeated words
H = 3
SEQ = r(2, 3, 4)


def pair(fwd, bwd):
    return (fwd, bwd)


# name, correct, broken, inputs, rows, the row the bug breaks, marks
CASES = [
    ("affine", pair(L.affine_forward, L.affine_backward), pair(L.affine_forward, L.affine_backward_bug),
     (X23, W, B), ["x", "w", "b"], ["b"], []),
    ("relu", pair(L.relu_forward, L.relu_backward), pair(L.relu_forward, L.relu_backward_bug),
     (r(4, 5),), ["x"], ["x"], []),
    ("batchnorm", pair(L.batchnorm_forward, L.batchnorm_backward), pair(L.batchnorm_forward, L.batchnorm_backward_bug),
     (r(6, 4), r(4), r(4), BN), ["x", "gamma", "beta"], ["x"], needs("np.var")),
    ("layernorm", pair(L.layernorm_forward, L.layernorm_backward), pair(L.layernorm_forward, L.layernorm_backward_bug),
     (r(4, 6), r(6), r(6), {}), ["x", "gamma", "beta"], ["gamma"], needs("np.var")),
    ("groupnorm", pair(L.groupnorm_forward, L.groupnorm_backward), pair(L.groupnorm_forward, L.groupnorm_backward_bug),
     (r(2, 4, 2, 2), r(1, 4, 1, 1), r(1, 4, 1, 1), 2, {}), ["x", "gamma", "beta"], ["x"], needs("ndarray.var")),
    ("dropout (unseeded mask)", pair(L.dropout_forward, L.dropout_backward),
     pair(L.dropout_forward, L.dropout_backward_bug), (r(5, 4), {"p": 0.6, "mode": "train"}), ["x"], ["x"], []),
    ("naive conv (np.pad)", pair(L.conv_forward_naive, L.conv_backward_naive),
     pair(L.conv_forward_naive, L.conv_backward_bug), (r(2, 2, 4, 4), r(3, 2, 3, 3), r(3), CONV),
     ["x", "w", "b"], ["w"], needs("np.pad")),
    ("naive conv (zeros pad)", pair(L.conv_forward_zeros_pad, L.conv_backward_naive),
     pair(L.conv_forward_zeros_pad, L.conv_backward_bug), (r(2, 2, 4, 4), r(3, 2, 3, 3), r(3), CONV),
     ["x", "w", "b"], ["w"], []),
    ("naive max-pool", pair(L.max_pool_forward_naive, L.max_pool_backward_naive),
     pair(L.max_pool_forward_naive, L.max_pool_backward_bug), (r(2, 2, 4, 4), POOL), ["x"], ["x"], []),
    ("svm_loss", L.svm_loss, L.svm_loss_bug, (r(4, 3), LABELS), ["x"], ["x"], []),
    ("softmax_loss", L.softmax_loss, L.softmax_loss_bug, (r(4, 3), LABELS), ["x"], ["x"], []),
    ("rnn step", pair(L.rnn_step_forward, L.rnn_step_backward), pair(L.rnn_step_forward, L.rnn_step_backward_bug),
     (r(3, 4), r(3, H), r(4, H), r(H, H), r(H)), ["x", "prev_h", "Wx", "Wh", "b"], ["Wh"], []),
    ("rnn sequence", pair(L.rnn_forward, L.rnn_backward), pair(L.rnn_forward, L.rnn_backward_bug),
     (SEQ, r(2, H), r(4, H), r(H, H), r(H)), ["x", "h0", "Wx", "Wh", "b"], ["b"], []),
    ("lstm step (two outputs)", pair(L.lstm_step_forward, L.lstm_step_backward),
     pair(L.lstm_step_forward, L.lstm_step_backward_bug), (r(3, 4), r(3, H), r(3, H), r(4, 4 * H), r(H, 4 * H),
     r(4 * H)), ["x", "prev_h", "prev_c", "Wx", "Wh", "b"], ["prev_c"], []),
    ("word embedding", pair(L.word_embedding_forward, L.word_embedding_backward),
     pair(L.word_embedding_forward, L.word_embedding_backward_bug), (WORDS, r(4, 3)), ["W"], ["W"], []),
    # book style
    ("Affine", L.Affine(r(6, 5), r(5)), L.AffineBug(r(6, 5), r(5)), (X23,), ["x", "W", "b"], ["W"], []),
    ("Relu", L.Relu(), L.ReluBug(), (r(4, 5),), ["x"], ["x"], []),
    ("Sigmoid (stable, zeros_like)", L.Sigmoid(), L.SigmoidBug(), (r(4, 5, scale=3),), ["x"], ["x"], []),
    ("SoftmaxWithLoss (log(y + 1e-7))", L.SoftmaxWithLoss(), L.SoftmaxWithLossBug(), (r(4, 3), LABELS), ["x"],
     ["x"], []),
    ("BatchNormalization", L.BatchNormalization(r(4), r(4)), L.BatchNormalizationBug(r(4), r(4)), (r(6, 4),),
     ["x", "gamma", "beta"], ["gamma"], []),
    ("Dropout (unseeded)", L.Dropout(0.4), L.DropoutBug(0.4), (r(5, 4),), ["x"], ["x"], []),
    ("im2col Convolution", L.Convolution(r(3, 2, 3, 3), r(3), pad=1), L.ConvolutionBug(r(3, 2, 3, 3), r(3), pad=1),
     (r(2, 2, 4, 4),), ["x", "W", "b"], ["b"], needs("np.pad")),
    ("im2col Pooling", L.Pooling(2, 2, stride=2), L.PoolingBug(2, 2, stride=2), (r(2, 2, 4, 4),), ["x"], ["x"],
     needs("np.pad")),
    ("TimeRNN (params/grads lists)", L.TimeRNN(r(4, H), r(H, H), r(H)),
     L.TimeRNN(r(4, H), r(H, H), r(H), drop_db=True), (SEQ,), ["xs", "params.0", "params.1", "params.2"],
     ["params.2"], []),
    ("LSTM cell (two outputs)", L.LSTMCell(r(4, 4 * H), r(H, 4 * H), r(4 * H)),
     L.LSTMCell(r(4, 4 * H), r(H, 4 * H), r(4 * H), forget_f=True), (r(3, 4), r(3, H), r(3, H)),
     ["x", "h_prev", "c_prev", "params.0", "params.1", "params.2"], ["c_prev"], []),
    ("TimeLSTM (params/grads lists)", L.TimeLSTM(r(4, 4 * H), r(H, 4 * H), r(4 * H)),
     L.TimeLSTM(r(4, 4 * H), r(H, 4 * H), r(4 * H), forget_f=True), (SEQ,),
     ["xs", "params.0", "params.1", "params.2"], ["xs", "params.0", "params.1", "params.2"], []),
]  # fmt: skip

NETWORK = {"forward": "loss", "backward": "gradient"}
CASES.append(
    ("TwoLayerNet.gradient(x, t)", L.TwoLayerNet(np.random.default_rng(1)),
     L.TwoLayerNet(np.random.default_rng(1), bug=True), (r(4, 6), LABELS),
     ["params.W1", "params.b1", "params.W2", "params.b2"], ["params.b2"], [])
)  # fmt: skip

PARAMS = [pytest.param(*case[1:6], id=case[0], marks=case[6]) for case in CASES]


def _snapshot(value):
    return copy.deepcopy(value)


def _same(a, b, path="") -> None:
    """``a`` (after the check) is ``b`` (before it): same types, same arrays and dtypes, no Tensors."""
    assert not isinstance(a, Tensor), f"{path} became a Tensor"
    if isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b), path
    elif isinstance(b, dict):
        assert isinstance(a, dict) and a.keys() == b.keys(), f"{path}: keys {list(a)} != {list(b)}"
        for k in b:
            _same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(b, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    elif hasattr(b, "__dict__") and not callable(b):
        _same(vars(a), vars(b), f"{path}.")
    else:
        assert a == b or a is b, path


def _check(subject, inputs, **kw):
    kw = NETWORK if isinstance(subject, L.TwoLayerNet) else {}
    before = _snapshot((subject if not isinstance(subject, tuple) else None, inputs))
    report = check_backward(subject, *inputs, **kw)
    _same((subject if not isinstance(subject, tuple) else None, inputs), before)
    return report


@pytest.mark.parametrize("correct,broken,inputs,rows,breaks", PARAMS)
def test_correct_code_passes_in_every_row(correct, broken, inputs, rows, breaks):
    report = _check(correct, inputs)
    assert [r.name for r in report.rows] == rows, str(report)
    assert report.passed, str(report)


@pytest.mark.parametrize("correct,broken,inputs,rows,breaks", PARAMS)
def test_planted_bug_fails_in_exactly_its_row(correct, broken, inputs, rows, breaks):
    report = _check(broken, inputs)
    assert [r.name for r in report.rows] == rows, str(report)
    assert report.failed == breaks, str(report)
    for name in breaks:  # the entry, both values and the share, in words
        assert "worst at" in report[name].problem and "hand" in report[name].problem, str(report)
