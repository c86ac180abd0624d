"""reference/_broadcast.py: the broadcast shape with torch's error, and a gradient summed back
to a broadcast argument's shape with the sign of a zero that torch's autograd gives; then, for
each family that broadcasts, a broadcast argument's gradient against a loop transcription.

Every loop sum below starts at ``total = 0.0`` and adds term by term, as torch's sum does: so a
column of -0.0 terms, or of terms that cancel, sums to +0.0."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import reference as R
from reference._broadcast import broadcast_shape, unbroadcast


def _same(got, expected):
    """Equal values, and equal signs of zero (``assert_array_equal`` takes -0.0 == 0.0)."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


def _torch_grads(function, args, names, grad_output=1.0, **kwargs):
    """torch's autograd gradients of ``function(*args, **kwargs)`` for the arguments in ``names``."""
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=i in names) for i, a in enumerate(args)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's size-mismatch warning for a broadcast target
        out = function(*tensors, **kwargs)
    out.backward(torch.broadcast_to(torch.tensor(grad_output, dtype=torch.float64), out.shape))
    return {i: tensors[i].grad.numpy() for i in names}


# --- broadcast_shape ---------------------------------------------------------------------


@pytest.mark.parametrize(("shapes", "expected"), [
    (((3,),), (3,)),
    (((), ()), ()),
    (((2, 3), ()), (2, 3)),
    (((4, 1, 3), (5, 1), ()), (4, 5, 3)),  # a missing leading dim and two size-1 dims stretched
    (((1, 1), (3,)), (1, 3)),
    (((0,), (1,)), (0,)),  # a size-1 dim stretches to size 0 too
    (((2, 1), (1, 0)), (2, 0)),
])
def test_broadcast_shape(shapes, expected):
    assert broadcast_shape(*shapes) == expected


@pytest.mark.parametrize(("shapes", "message"), [
    (((2, 3), (2, 4)), "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1"),
    # the last dimension that clashes is named, counted from the front of the broadcast shape
    (((2, 3), (4, 5)), "The size of tensor a (3) must match the size of tensor b (5) at non-singleton dimension 1"),
    (((3,), (2, 4)), "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1"),
    # left to right: (3, 1) and (1, 4) make (3, 4), which then meets (3, 5)
    (((3, 1), (1, 4), (3, 5)), "The size of tensor a (4) must match the size of tensor b (5) "
                               "at non-singleton dimension 1"),
])
def test_broadcast_shape_raises_torchs_error(shapes, message):
    with pytest.raises(RuntimeError) as raised:
        broadcast_shape(*shapes)
    assert str(raised.value) == message
    with pytest.raises(RuntimeError) as torch_raised:  # the same shapes through torch's own broadcasting
        total = torch.zeros(shapes[0])
        for shape in shapes[1:]:
            total = total + torch.zeros(shape)
    assert str(torch_raised.value) == message


@pytest.mark.parametrize(("function", "shapes"), [
    ("kl_div", [(2, 3), (2, 4)]),
    ("poisson_nll_loss", [(3,), (4,)]),
    ("gaussian_nll_loss", [(2, 3), (3, 3), (2, 1)]),
    ("hinge_embedding_loss", [(2, 3), (3, 2)]),
    ("margin_ranking_loss", [(3, 1), (1, 4), (3, 5)]),
    ("margin_ranking_loss", [(2, 3), (2, 3), (4, 3)]),
    ("cosine_embedding_loss", [(3, 5), (3, 5), (4,)]),
])
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")  # kl_div's, before the error
def test_callers_raise_torchs_error_for_shapes_that_do_not_broadcast(function, shapes):
    """The callers pass their shapes in the order torch's ops take them, so a and b read the same."""
    args = [np.ones(shape) for shape in shapes]
    with pytest.raises(RuntimeError) as torch_raised:
        getattr(F, function)(*[torch.tensor(a) for a in args])
    with pytest.raises(RuntimeError, match="must match the size") as raised:
        getattr(R, function)(*args)
    assert str(raised.value) == str(torch_raised.value)


# --- unbroadcast: values -----------------------------------------------------------------


def test_unbroadcast_sums_leading_and_size_one_dims():
    g = np.arange(6.0).reshape(2, 3)  # [[0, 1, 2], [3, 4, 5]]
    _same(unbroadcast(g, (3,)), [3.0, 5.0, 7.0])  # a leading dim: rows added
    _same(unbroadcast(g, (1, 3)), [[3.0, 5.0, 7.0]])  # the same as a size-1 dim, kept
    _same(unbroadcast(g, (2, 1)), [[3.0], [12.0]])  # an inner size-1 dim: columns added
    _same(unbroadcast(g, (1, 1)), [[15.0]])


def test_unbroadcast_leading_and_inner_together():
    g = np.arange(24.0).reshape(2, 3, 4)  # g[a, i, c] = 12 a + 4 i + c
    # summed over a in {0, 1} and c in {0..3}: 4 * 12 + 8 * 4 i + 2 * (0 + 1 + 2 + 3) = 60 + 32 i
    _same(unbroadcast(g, (3, 1)), [[60.0], [92.0], [124.0]])
    _same(unbroadcast(g, (1, 3, 1)), [[[60.0], [92.0], [124.0]]])
    _same(unbroadcast(g, (4,)), [60.0 + 6 * c for c in range(4)])  # 0+4+8 + 12+16+20 = 60, plus 6 c


def test_unbroadcast_to_a_zero_dim_argument():
    got = unbroadcast(np.arange(6.0).reshape(2, 3), ())
    assert isinstance(got, np.ndarray) and got.shape == ()
    _same(got, 15.0)
    _same(unbroadcast(np.float64(2.5), ()), 2.5)


def test_unbroadcast_of_an_empty_broadcast():
    _same(unbroadcast(np.zeros((0, 3)), (3,)), [0.0, 0.0, 0.0])  # an empty sum is +0.0
    assert unbroadcast(np.zeros((2, 0)), (1, 0)).shape == (1, 0)


# --- unbroadcast: the sign of a zero -----------------------------------------------------


def test_unbroadcast_zero_signs():
    minus = np.full((4, 5), -0.0)
    assert np.signbit(minus).all()
    # all -0.0 along the summed dims: torch's sum starts at +0.0, so +0.0 (plain IEEE -0.0 + -0.0 is -0.0)
    assert not np.signbit(unbroadcast(minus, (5,))).any()
    assert not np.signbit(unbroadcast(minus, (4, 1))).any()
    assert not np.signbit(unbroadcast(minus, ())).any()
    assert not np.signbit(unbroadcast(np.full((1, 5), -0.0), (5,))).any()  # a sum over one size-1 dim
    # terms that cancel: +0.0
    cancel = np.array([[1.5, -2.0], [-1.5, 2.0]])
    assert not np.signbit(unbroadcast(cancel, (2,))).any()
    # nothing to sum: returned as it is, -0.0 included, as torch's autograd passes it on
    assert np.signbit(unbroadcast(minus, (4, 5))).all()
    assert np.signbit(unbroadcast(np.full((1, 5), -0.0), (1, 5))).all()
    assert np.signbit(unbroadcast(np.float64(-0.0), ())).all()


@pytest.mark.parametrize(("grad_shape", "shape"), [
    ((4, 5), (5,)), ((4, 5), (1, 5)), ((4, 5), (4, 1)), ((4, 5), ()), ((2, 3, 4), (3, 1)),
    ((1, 5), (5,)), ((4, 5), (4, 5)), ((1, 5), (1, 5)), ((), ()),
])
def test_unbroadcast_matches_torchs_autograd(grad_shape, shape):
    """``argument + zeros(grad_shape)`` hands ``grad`` unchanged to autograd's own summing."""
    rng = np.random.default_rng(7)
    for values in ([-0.0], [0.0, -0.0], [1.0, -1.0, -0.0], [0.5, -0.5, 2.0, -0.0]):
        grad = rng.choice(values, size=grad_shape)
        argument = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
        (argument + torch.zeros(grad_shape, dtype=torch.float64)).backward(torch.tensor(grad))
        _same(unbroadcast(grad, shape), argument.grad.numpy())


# --- each family: a broadcast argument's gradient against a loop transcription -----------


@pytest.mark.parametrize("loss", ["mse_loss", "l1_loss"])
@pytest.mark.filterwarnings("ignore:Using a target size:UserWarning")
def test_regression_broadcast_target_gradient(loss):
    x = np.array([[1.0, 2.0, 0.5, -1.0, 3.0],
                  [1.0, 0.0, 0.5, -1.0, -2.0],
                  [1.0, 2.0, 1.5, -1.0, 0.0],
                  [1.0, 0.0, -0.5, -1.0, 1.0]])
    t = np.array([1.0, 1.0, 0.5, -1.0, 0.25])  # columns 0 and 3: x == t; column 1: x - t = +-1, cancelling
    expected = np.empty(5)
    for j in range(5):
        total = 0.0
        for n in range(4):
            d = x[n, j] - t[j]
            total += -(2.0 * d) if loss == "mse_loss" else -float(np.sign(d))  # d loss / d t, each -0.0 at d = 0
        expected[j] = total
    assert not np.signbit(expected[[0, 1, 3]]).any()
    got = getattr(R, loss + "_backward")(np.float64(1.0), x, t, reduction="sum")["target"]
    _same(got, expected)
    _same(got, _torch_grads(getattr(F, loss), [x, t], [1], reduction="sum")[1])


def test_binary_broadcast_weight_gradient():
    x = np.array([[0.5, -1.0, 2.0], [-0.5, 1.0, 0.0]])
    y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.5]])
    w = np.array([1.0, 2.0, 0.5])  # (C,), broadcast over the batch
    g = np.array([1.0, -2.0])
    expected = np.empty(3)
    for c in range(3):
        total = 0.0
        for n in range(2):
            p = 1.0 / (1.0 + np.exp(-x[n, c]))
            loss = -(y[n, c] * np.log(p) + (1.0 - y[n, c]) * np.log(1.0 - p))  # unweighted
            total += g[n] / 3 * loss
        expected[c] = total
    got = R.multilabel_soft_margin_loss_backward(g, x, y, weight=w, reduction="none")["weight"]
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    # every term -0.0 (grad_output -0.0 times a positive loss): +0.0, as in torch
    minus = np.array([-0.0, -0.0])
    got = R.multilabel_soft_margin_loss_backward(minus, x, y, weight=w, reduction="none")["weight"]
    _same(got, [0.0, 0.0, 0.0])
    _same(got, _torch_grads(F.multilabel_soft_margin_loss, [x, y, w], [2], minus, reduction="none")[2])


@pytest.mark.parametrize("x2_shape", [(3,), (1, 3)])
def test_triplet_broadcast_pairwise_distance_gradient(x2_shape):
    x1 = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0], [2.0, 2.0, 2.0], [-1.0, 0.5, 1.0]])
    x2 = np.array([0.5, 1.0, -1.0]).reshape(x2_shape)
    g = np.array([1.0, -1.0, 2.0, 0.5])
    eps = 1e-6
    v = x1 - x2.reshape(3) + eps
    expected = np.empty(3)
    for j in range(3):
        total = 0.0
        for n in range(4):
            norm = np.sqrt(sum(v[n, k] ** 2 for k in range(3)))
            total += -g[n] * v[n, j] / norm  # d |x1 - x2 + eps| / d x2
        expected[j] = total
    got = R.pairwise_distance_backward(g, x1, x2, eps=eps)["x2"]
    assert got.shape == x2_shape
    np.testing.assert_allclose(got.reshape(3), expected, rtol=1e-14)


def test_margin_ranking_broadcast_target_gradient():
    x1 = np.array([[1.0, 0.5, 2.0], [2.0, -1.0, 0.0], [-1.0, 3.0, 1.0], [0.0, 0.0, -2.0]])
    x2 = np.array([[1.0, 1.0, 0.0], [2.0, 1.0, 1.0], [-1.0, 0.0, 0.5], [0.0, -1.0, 1.0]])  # column 0: x1 == x2
    y = np.array([[1.0, -1.0, 1.0]])  # (1, 3), broadcast over the 4 rows
    margin = 0.5
    expected = np.empty((1, 3))
    for j in range(3):
        total = 0.0
        for n in range(4):
            diff = x1[n, j] - x2[n, j]
            if -y[0, j] * diff + margin >= 0:  # on or past the hinge: the gradient passes
                total += diff
        # torch takes -target before the product, so it negates the sum: column 0 gives -(+0.0) = -0.0
        expected[0, j] = -total
    assert np.signbit(expected[0, 0])
    got = R.margin_ranking_loss_backward(np.float64(1.0), x1, x2, y, margin=margin, reduction="sum")["target"]
    _same(got, expected)
    _same(got, _torch_grads(F.margin_ranking_loss, [x1, x2, y], [2], margin=margin, reduction="sum")[2])


def test_probabilistic_broadcast_gradients():
    # kl_div: a (3,) input broadcast against a (2, 3) target; d/dx of t log t - t x is -t
    x = np.array([-1.0, -0.5, -2.0])
    t = np.array([[0.0, 0.25, 0.5], [0.0, 0.75, 0.1]])  # column 0: every term -0.0
    expected = np.empty(3)
    for j in range(3):
        total = 0.0
        for n in range(2):
            total += -t[n, j]
        expected[j] = total
    got = R.kl_div_backward(np.float64(1.0), x, t, reduction="sum")["input"]
    _same(got, expected)
    _same(got, _torch_grads(F.kl_div, [x, t], [0], reduction="sum")[0])
    # gaussian_nll_loss: one variance per row, (2, 1); d/dv of (log v + (x - t)^2 / v) / 2
    x, t = np.array([[1.0, 2.0, 0.0], [0.5, -1.0, 1.0]]), np.array([[0.0, 2.0, 1.0], [0.5, 1.0, -1.0]])
    v = np.array([[0.5], [2.0]])
    expected = np.empty((2, 1))
    for n in range(2):
        total = 0.0
        for j in range(3):
            total += 0.5 * (1.0 / v[n, 0] - (x[n, j] - t[n, j]) ** 2 / v[n, 0] ** 2)
        expected[n, 0] = total
    got = R.gaussian_nll_loss_backward(np.float64(1.0), x, t, v, reduction="sum")["var"]
    np.testing.assert_allclose(got, expected, rtol=1e-14)


@pytest.mark.parametrize(("loss", "argument", "args"), [
    ("kl_div", 0, ([1.0, -0.5], [0.0, 0.0])),  # d/dx of t log t - t x is -t: -0.0 at t = 0
    ("poisson_nll_loss", 1, ([0.0, 0.0], [1.0, 2.0])),  # d/dt of exp(x) - t x is -x: -0.0 at x = 0
    ("gaussian_nll_loss", 1, ([0.5, 1.0], [0.5, 1.0], [1.0, 2.0])),  # d/dt of (x - t)^2 / 2v: -0.0 at x = t
])
def test_probabilistic_gradient_of_an_argument_not_broadcast_keeps_its_zero_sign(loss, argument, args):
    """Nothing is summed where the argument has the broadcast shape: -0.0 stays -0.0, as in torch."""
    args = [np.array(a) for a in args]
    got = getattr(R, loss + "_backward")(np.float64(1.0), *args, reduction="sum")[("input", "target")[argument]]
    _same(got, [-0.0, -0.0])
    _same(got, _torch_grads(getattr(F, loss), args, [argument], reduction="sum")[argument])
