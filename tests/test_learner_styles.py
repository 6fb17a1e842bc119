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
     (r(6, 4), r(4), r(4), BN), ["x", "gamma", "beta"], ["x"], []),
    ("layernorm", pair(L.layernorm_forward, L.layernorm_backward), pair(L.layernorm_forward, L.layernorm_backward_bug),
     (r(4, 6), r(6), r(6), {}), ["x", "gamma", "beta"], ["gamma"], []),
    ("groupnorm", pair(L.groupnorm_forward, L.groupnorm_backward), pair(L.groupnorm_forward, L.groupnorm_backward_bug),
     (r(2, 4, 2, 2), r(1, 4, 1, 1), r(1, 4, 1, 1), 2, {}), ["x", "gamma", "beta"], ["x"], []),
    ("dropout (unseeded mask)", pair(L.dropout_forward, L.dropout_backward),
     pair(L.dropout_forward, L.dropout_backward_bug), (r(5, 4), {"p": 0.6, "mode": "train"}), ["x"], ["x"], []),
    ("naive conv (np.pad)", pair(L.conv_forward_naive, L.conv_backward_naive),
     pair(L.conv_forward_naive, L.conv_backward_bug), (r(2, 2, 4, 4), r(3, 2, 3, 3), r(3), CONV),
     ["x", "w", "b"], ["w"], []),
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
     (r(2, 2, 4, 4),), ["x", "W", "b"], ["b"], []),
    ("im2col Pooling", L.Pooling(2, 2, stride=2), L.PoolingBug(2, 2, stride=2), (r(2, 2, 4, 4),), ["x"], ["x"],
     []),
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


def _check(subject, inputs):
    # 8 sampled entries per array (the default is 20): the rows' verdicts, not the sampling, are tested here
    kw = {"samples": 8, **(NETWORK if isinstance(subject, L.TwoLayerNet) else {})}
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


# ---------------------------------------------------------------- each message the issue quoted, gone


def test_params_and_grads_lists_are_matched_by_position():
    text = str(_check(L.TimeRNN(r(4, H), r(H, H), r(H)), (SEQ,)))
    assert "dparams" not in text and "MISMATCH" not in text


def test_a_whole_network_with_a_gradient_method_is_checked_and_shared_arrays_are_one_parameter():
    net = L.TwoLayerNet(np.random.default_rng(1))
    report = _check(net, (r(4, 6), LABELS))
    assert report.passed and [row.name for row in report.rows] == [
        "params.W1",
        "params.b1",
        "params.W2",
        "params.b2",
    ]
    assert (
        "one array under several names is one parameter, named by the first: params.W1 = layers.Affine1.W; "
        "params.b1 = layers.Affine1.b; params.W2 = layers.Affine2.W; params.b2 = layers.Affine2.b"
    ) in report.notes


def test_arrays_filled_in_loops_record_instead_of_blaming_float_or_asarray():
    pair = (L.conv_forward_zeros_pad, L.conv_backward_naive)
    report = check_backward(pair, r(2, 2, 4, 4), r(3, 2, 3, 3), r(3), CONV)
    text = str(report)
    assert report.passed and "yes*" not in text and "float()" not in text and "np.asarray" not in text, text


def test_writing_into_probabilities_after_reading_them_is_no_error():
    report = check_backward(L.softmax_loss, r(4, 3), LABELS)
    assert report.passed and report["x"].verdict == "yes", str(report)


def test_a_small_constant_inside_a_log_is_close_and_named():
    report = check_backward(L.SoftmaxWithLoss(), r(4, 3), LABELS)
    row = report["x"]
    assert report.passed and row.verdict == "close" and "MISMATCH" not in str(report)
    assert "log(... + 1e-07)" in row.note and row.max_rel < 1e-5


class AffineThenNorm:
    """An affine layer followed by batch-norm: the bias's true gradient is 0."""

    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        self.h = x.dot(self.W) + self.b
        self.mu = self.h.mean(axis=0)
        self.var = ((self.h - self.mu) ** 2).mean(axis=0)
        self.std = np.sqrt(self.var + 1e-5)
        self.hn = (self.h - self.mu) / self.std
        return self.hn

    def backward(self, dout):
        n = dout.shape[0]
        dh = (n * dout - dout.sum(axis=0) - self.hn * (dout * self.hn).sum(axis=0)) / (n * self.std)
        self.dW, self.db = self.x.T.dot(dh), dh.sum(axis=0)
        return dh.dot(self.W.T)


def test_a_bias_before_batch_norm_has_a_true_zero_gradient_and_passes():
    report = check_backward(AffineThenNorm(r(5, 4), r(4)), r(6, 5))
    row = report["b"]
    assert report.passed and row.verdict == "zero", str(report)
    assert "true gradient is 0" in row.note and "MISMATCH" not in str(report)


def test_an_unseeded_dropout_passes_and_the_report_says_the_forward_is_random():
    report = check_backward((L.dropout_forward, L.dropout_backward), r(5, 4), {"p": 0.6, "mode": "train"})
    text = str(report)
    assert report.passed and report.random, text
    assert "check the engine" not in text and "kink" not in text
    assert any(
        n.startswith("the forward is random (it draws from numpy's global generator") for n in report.notes
    )


def test_numpy_random_state_is_left_as_it_was():
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    check_backward(L.Dropout(0.4), r(5, 4))
    assert np.array_equal(np.random.get_state()[1], before)


def masked_softmax_loss(x, y, mask):
    """A softmax loss over the positions ``mask`` keeps (a bool array)."""
    shifted = x - np.max(x, axis=1, keepdims=True)
    logp = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    n = x.shape[0]
    loss = -np.sum(mask * logp[np.arange(n), y]) / n
    dx = np.exp(logp)
    dx[np.arange(n), y] -= 1
    return loss, dx * mask[:, None] / n


def test_a_boolean_mask_is_named_a_mask_not_labels():
    report = check_backward(masked_softmax_loss, r(4, 3), LABELS, np.array([True, False, True, True]))
    assert report.passed, str(report)
    assert "mask is a boolean mask: no gradient to check, no row" in report.notes
    assert "y holds integers (labels or indices): no gradient to check, no row" in report.notes


def running_scale_forward(x, gamma, sc_param):
    """Writes running statistics into its parameter dict, as batch-norm does."""
    momentum = sc_param.get("momentum", 0.9)
    running = sc_param.get("running_mean", np.zeros(x.shape[1]))
    mu = x.mean(axis=0)
    sc_param["running_mean"] = momentum * running + (1 - momentum) * mu
    return gamma * (x - mu), (gamma, x.shape[0])


def running_scale_backward(dout, cache):
    gamma, n = cache
    d = gamma * dout
    return d - d.sum(axis=0) / n, None


def test_the_learners_param_dict_comes_back_unchanged_without_tensors():
    sc_param = {"momentum": 0.8}
    report = check_backward((running_scale_forward, running_scale_backward), r(4, 3), r(3), sc_param)
    assert report.passed and sc_param == {"momentum": 0.8}, (str(report), sc_param)
    assert [row.name for row in report.rows] == ["x"]  # gamma got None back: a note, not a row
    assert "gamma: the backward returned no gradient for it; not checked" in report.notes


def test_check_backward_is_exported_at_the_top_level():
    import tinygrad_mlp
    from tinygrad_mlp import verify

    assert tinygrad_mlp.check_backward is verify.check_backward and "check_backward" in tinygrad_mlp.__all__


def test_rows_are_named_by_the_forwards_own_parameter_names():
    report = check_backward(
        (L.rnn_step_forward, L.rnn_step_backward), r(3, 4), r(3, H), r(4, H), r(H, H), r(H)
    )
    assert [row.name for row in report.rows] == ["x", "prev_h", "Wx", "Wh", "b"]


# ---------------------------------------------------------------- more learners' forms


class TwoLayerModel:
    """The other course's model: ``loss(X, y)`` returns (loss, grads by parameter name)."""

    def __init__(self, rng, bug=False):
        self.params = {
            "W1": rng.standard_normal((5, 4)),
            "b1": rng.standard_normal(4),
            "W2": rng.standard_normal((4, 3)),
        }
        self.bug = bug

    def loss(self, X, y):
        h, cache_h = L.affine_forward(X, self.params["W1"], self.params["b1"])
        a, cache_a = L.relu_forward(h)
        scores = a.dot(self.params["W2"])
        loss, dscores = L.softmax_loss(scores, y)
        grads = {"W2": a.T.dot(dscores)}
        dh = L.relu_backward(dscores.dot(self.params["W2"].T), cache_a)
        _, grads["W1"], grads["b1"] = L.affine_backward(dh, cache_h)
        if self.bug:
            grads["b1"] = grads["b1"] * 0
        return loss, grads


def test_a_models_loss_method_returning_grads_by_name():
    model = TwoLayerModel(np.random.default_rng(2))
    report = check_backward(model.loss, r(4, 5), LABELS)
    assert [row.name for row in report.rows] == ["params.W1", "params.b1", "params.W2"] and report.passed, (
        str(report)
    )
    assert check_backward(TwoLayerModel(np.random.default_rng(2), bug=True).loss, r(4, 5), LABELS).failed == [
        "params.b1"
    ]


RNG = np.random.default_rng(3)  # a module-level Generator: its draws are replayed too


def test_generator_methods_are_replayed():
    state = RNG.bit_generator.state
    x, w = r(4, 3), r(3, 2)

    def forward(x, w):
        keep = RNG.binomial(1, 0.7, size=x.shape)
        shift = RNG.normal(size=x.shape[1]) + RNG.uniform(size=x.shape[1])
        pick = RNG.choice(x.shape[0], size=x.shape[0])
        z = (x * keep + shift)[pick]
        return z.dot(w), (z, w, keep, pick, x.shape)

    def backward(dout, cache):
        z, w, keep, pick, shape = cache
        dz = dout.dot(w.T)
        dx = np.zeros(shape)
        np.add.at(dx, pick, dz)
        return dx * keep, z.T.dot(dout)

    report = check_backward((forward, backward), x, w)
    assert report.passed and report.random, str(report)
    assert RNG.bit_generator.state == state  # left as it was


LOOP_LAYER = """
import numpy as np

def row_scale_forward(x, w):
    out = np.zeros(x.shape)  # filled row by row
    for i in range(x.shape[0]):
        out[i] = x[i] * w
    return out, (x, w)

def row_scale_backward(dout, cache):
    x, w = cache
    return dout * w, (dout * x).sum(axis=0)
"""


def test_a_layer_file_run_outside_sys_modules_is_recorded_too():
    # exec / runpy.run_path: the learner's globals are in no module of sys.modules
    ns: dict = {}
    exec(compile(LOOP_LAYER, "layers.py", "exec"), ns)
    report = check_backward((ns["row_scale_forward"], ns["row_scale_backward"]), r(4, 3), r(3))
    assert report.passed and report.failed == [], str(report)


def test_a_generator_the_forward_closes_over_is_replayed():
    rng = np.random.default_rng(5)  # a local of the enclosing function, reached through the closure

    def forward(x):
        mask = rng.random(x.shape) < 0.5
        return x * mask, mask

    state = rng.bit_generator.state
    report = check_backward((forward, lambda dout, mask: dout * mask), r(4, 3))
    assert report.passed and report.random, str(report)
    assert rng.bit_generator.state == state  # left as it was


def test_ndarray_op_equals_tensor_rebinds_the_name():
    def forward(x, w):
        out = np.random.default_rng(0).standard_normal((x.shape[0], w.shape[1]))  # an ndarray
        out += x.dot(w)
        out *= 2
        return out, (x, w)

    def backward(dout, cache):
        x, w = cache
        return 2 * dout.dot(w.T), 2 * x.T.dot(dout)

    assert check_backward((forward, backward), r(3, 4), r(4, 2)).passed


class ScaleStoringDx:
    """Keeps its input gradient in ``self.dx`` and returns nothing."""

    def __init__(self, s):
        self.s = s

    def forward(self, x):
        self.x = x
        return x * self.s

    def backward(self, dout):
        self.ds = (dout * self.x).sum(axis=0)
        self.dx = dout * self.s  # stored, not returned


class ScaleStoringDxWithFlag(ScaleStoringDx):
    def forward(self, x, train_flg=True):  # a trailing optional flag, as the book's Dropout and BatchNorm
        return super().forward(x)


@pytest.mark.parametrize("layer", [ScaleStoringDx, ScaleStoringDxWithFlag])
def test_a_backward_storing_the_input_gradient_on_the_object(layer):
    report = check_backward(layer(r(3)), r(4, 3))
    assert [row.name for row in report.rows] == ["x", "s"] and report.passed, str(report)


def test_a_backward_that_returned_none_fails_naming_it():
    class Forgot:
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, dout):
            2 * self.x * dout  # computed, never returned

    report = check_backward(Forgot(), r(4, 3))
    assert report.failed == ["x"], str(report)
    assert "backward returned None; return dx" in report["x"].problem


def test_what_cannot_be_recorded_is_one_line_naming_the_call_and_the_learners_line():
    def forward(x, k):
        return np.convolve(x, k, mode="valid"), (x, k)

    def backward(dout, cache):
        x, k = cache
        return np.convolve(dout, k[::-1], mode="full"), np.convolve(x[::-1], dout, mode="valid")

    with pytest.raises(LayerCheckError) as info:
        check_backward((forward, backward), r(6), r(3))
    text = str(info.value)
    assert "\n" not in text and "numpy.convolve cannot be recorded" in text
    assert "test_learner_styles.py:" in text and 'np.convolve(x, k, mode="valid")' in text


def test_a_cut_is_named_with_the_learners_line():
    def forward(x):
        s = float(np.sum(x))  # cuts the graph
        return x * s, (x, s)

    def backward(dout, cache):
        x, s = cache
        return dout * s + np.sum(dout * x)

    report = check_backward((forward, backward), r(3, 2))
    assert report.passed and report.warned == ["x"], str(report)
    assert any(
        "float() of a Tensor at test_learner_styles.py:" in n and "float(np.sum(x))" in n
        for n in report.notes
    )


def test_the_constant_in_a_log_is_close_even_where_its_share_is_large():
    # the labels' probabilities near 1e-4: 1e-7 inside the log shifts the gradient by ~1e-3 of
    # its largest entry, more than central differences resolve; the hand-written gradient is
    # exactly that of log(y), so the report says close, naming the constant
    x = np.array([[8.0, 0, 0], [0, 9, 0], [1, 2, 3], [0, 0, 1]])
    t = np.array([1, 2, 0, 1])
    report = check_backward(L.SoftmaxWithLoss(), x, t)
    row = report["x"]
    assert report.passed and row.verdict == "close" and row.max_rel > 1e-4, str(report)
    assert "without its small constant (log(... + 1e-07))" in row.note
    assert check_backward(L.SoftmaxWithLossBug(), x, t).failed == ["x"]


# ---------------------------------------------------------------- numpy patterns learners' layers use


def _unsort(d, order):
    out = np.zeros_like(d)
    np.put_along_axis(out, order, d, axis=1)
    return out


def _split_back(dout, n):
    return dout[:, :n], dout[:, n:]


PATTERNS = [
    (
        "np.concatenate",
        lambda x, y: (np.concatenate([x, y], axis=1), x.shape[1]),
        _split_back,
        (r(3, 2), r(3, 4)),
    ),
    ("np.c_", lambda x, y: (np.c_[x, y], x.shape[1]), _split_back, (r(3, 2), r(3, 4))),
    (
        "np.hsplit",
        lambda x: (np.hsplit(x, 2)[0] * np.hsplit(x, 2)[1], x),
        lambda d, x: np.hstack([d * x[:, 2:], d * x[:, :2]]),
        (r(3, 4),),
    ),
    (
        "np.array_split",
        lambda x: ((lambda p: p[0] + 2 * p[1] - p[2])(np.array_split(x, 3, axis=1)), None),
        lambda d, _: np.hstack([d, 2 * d, -d]),
        (r(3, 6),),
    ),
    (
        "np.expand_dims",
        lambda x: (np.expand_dims(x, axis=1) * 3.0, None),
        lambda d, _: 3.0 * d[:, 0, :],
        (r(3, 4),),
    ),
    ("np.tile", lambda x: (np.tile(x, (1, 2)), x.shape[1]), lambda d, n: d[:, :n] + d[:, n:], (r(3, 4),)),
    (
        "np.array of Tensors",
        lambda x: (np.array([x[0] * 2.0, x[1] * 3.0]), None),
        lambda d, _: np.stack([2.0 * d[0], 3.0 * d[1]]),
        (r(2, 4),),
    ),
    (
        "np.std",
        lambda x: (np.std(x, axis=0), x),
        lambda d, x: d * (x - x.mean(axis=0)) / (x.shape[0] * x.std(axis=0)),
        (r(5, 3),),
    ),
    (
        "np.sort",
        lambda x: (np.sort(x, axis=1), np.argsort(x, axis=1)),
        _unsort,
        (r(3, 4),),
    ),
]


@pytest.mark.parametrize(
    "forward,backward,inputs",
    [pytest.param(f, b, xs, id=name) for name, f, b, xs in PATTERNS],
)
def test_numpy_patterns_in_a_forward_are_recorded(forward, backward, inputs):
    report = check_backward((forward, backward), *inputs)
    assert report.passed, str(report)


class DropoutOwnGenerator:
    """Draws its mask from a Generator it holds (each run of the check has its own copy)."""

    def __init__(self, p):
        self.p, self.rng = p, np.random.default_rng()

    def forward(self, x):
        self.mask = self.rng.random(x.shape) < self.p
        return x * self.mask / self.p

    def backward(self, dout):
        return dout * self.mask / self.p


def test_a_generator_the_layer_holds_is_replayed_and_left_alone():
    layer = DropoutOwnGenerator(0.5)
    state = layer.rng.bit_generator.state
    report = check_backward(layer, r(5, 4))
    assert report.passed and report.random, str(report)
    assert any("a generator it holds" in n for n in report.notes)
    assert layer.rng.bit_generator.state == state


def test_pythons_random_module_is_replayed_too():
    import random

    def forward(x):
        keep = np.array([[random.random() < 0.5 for _ in range(x.shape[1])] for _ in range(x.shape[0])])
        return x * keep, keep

    random.seed(3)
    report = check_backward((forward, lambda dout, keep: dout * keep), r(4, 3))
    assert report.passed and report.random, str(report)
    assert any("Python's random module" in n for n in report.notes)


def test_a_generator_made_without_a_seed_inside_the_forward_is_replayed():
    def forward(x):
        mask = np.random.default_rng().random(x.shape) < 0.5  # a new, unseeded generator on every call
        return x * mask, mask

    report = check_backward((forward, lambda dout, mask: dout * mask), r(4, 3))
    assert report.passed and report.random, str(report)
    assert any("np.random.default_rng()" in n for n in report.notes)


def test_a_forward_random_in_a_way_that_cannot_be_replayed_is_one_clear_error():
    import os

    def forward(x):
        noise = np.frombuffer(os.urandom(8 * x.size), dtype=np.uint64).reshape(x.shape) % 2
        return x * noise, noise

    with pytest.raises(
        LayerCheckError, match="different outputs on two runs .* seed the generator it draws from"
    ):
        check_backward((forward, lambda dout, noise: dout * noise), r(8, 8))  # two equal runs: 2**-64


# ---------------------------------------------------------------- what cannot be checked: one clear line each


def _pair_forward(x):
    return x * 2, x


BAD = [
    ("a forward without a cache", ((lambda x: x * 2), (lambda d, c: d)), (r(3),), {}, "returns (out, cache)"),
    ("a loss that is no number", (lambda x: (x * 2, x)), (r(3),), {}, "a loss function's loss is one number"),
    (
        "too many gradients",
        (_pair_forward, lambda d, c: (d, d, d)),
        (r(3),),
        {},
        "returned 3 gradients for 1 inputs",
    ),
    (
        "one dout for two outputs",
        (lambda x: (x, 2 * x, None), lambda a, b, c: a + 2 * b),
        (r(3),),
        {"dout": np.ones(3)},
        "1 dout given but <lambda> returned 2 outputs",
    ),
    (
        "a dout of the wrong shape",
        (_pair_forward, lambda d, c: 2 * d),
        (r(3),),
        {"dout": np.ones(4)},
        "dout has shape",
    ),
    ("a Tensor as input", (_pair_forward, lambda d, c: 2 * d), (Tensor(r(3)),), {}, "input x is a Tensor"),
    ("a tuple of three", (_pair_forward, _pair_forward, _pair_forward), (r(3),), {}, "a function pair is"),
    (
        "a backward that raises",
        (_pair_forward, lambda d, c: undefined_name),  # noqa: F821
        (r(3),),
        {},
        "raised on numpy arrays (your code, before anything is traced): NameError",
    ),
]


@pytest.mark.parametrize("subject,inputs,kw,message", [pytest.param(*c[1:], id=c[0]) for c in BAD])
def test_what_cannot_be_checked_is_one_line(subject, inputs, kw, message):
    with pytest.raises(LayerCheckError) as info:
        check_backward(subject, *inputs, **kw)
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


class SoftmaxWithOneHot:
    """One-hot float targets, turned into labels inside the forward (t.argmax, t.astype(int))."""

    def forward(self, x, t):
        self.t = t
        labels = t.argmax(axis=1) if t.ndim == 2 else t.astype(int)
        self.y = L.softmax_rows(x)
        return -np.sum(np.log(self.y[np.arange(len(labels)), labels])) / len(labels)

    def backward(self, dout=1):
        t = self.t if self.t.ndim == 2 else np.eye(self.y.shape[1])[self.t.astype(int)]
        return (self.y - t) * dout / len(t)


@pytest.mark.parametrize("t", [np.eye(3)[LABELS], LABELS.astype(float)], ids=["one-hot", "float labels"])
def test_float_targets_keep_numpys_methods_in_the_trace(t):
    report = check_backward(SoftmaxWithOneHot(), r(4, 3), t)
    assert [row.name for row in report.rows] == ["x"] and report.passed, str(report)
    assert "t: the backward returned no gradient for it; not checked" in report.notes
