"""The size regimes' power (conformance/sizes.py): a planted port per regime (tests/ports/), each exact
where everything fits in one vector, one block, one chunk or one exact count, and wrong past it, as
blocked, vectorized and low-precision kernels are. Each fails its regime's cases (and may fail other
size cases its fault reaches: a 257-element row has a vector tail too), and, marked slow, passes
every case of the grid of its functions that is not a size case."""

import os

import pytest

from conformance.targets import load

from .planted import failures

PORTS = os.path.join(os.path.dirname(__file__), "ports")

# port -> (its functions, the regimes it must fail)
SIZE_PORTS = {
    "vector_tail_softmax.py": (("softmax", "log_softmax"), {"vector"}),
    "padded_block_cross_entropy.py": (("cross_entropy",), {"block", "vocabulary"}),
    "int16_index_nll.py": (("nll_loss", "cross_entropy"), {"wide index"}),
    "half_count_mean.py": (("mse_loss", "l1_loss"), {"count", "chunk"}),
    "chunked_mean.py": (("mse_loss", "smooth_l1_loss"), {"chunk"}),
    "blocked_norm.py": (("cosine_embedding_loss",), {"block"}),
    "ctc_state_tile.py": (("ctc_loss",), {"long sequence"}),
    "spatial_block_nll.py": (("nll_loss", "cross_entropy"), {"spatial"}),
}


def _port(name):
    return load(os.path.join(PORTS, name))


def _regime(case_id):
    from conformance.cases import find

    return find(case_id.split(": ", 1)[1]).regime


@pytest.mark.parametrize("name", sorted(SIZE_PORTS))
def test_a_planted_size_fault_fails_its_regimes(name):
    functions, regimes = SIZE_PORTS[name]
    target = _port(name)
    failed = [(check_id, message) for function in functions
              for check_id, message in failures(target, function, ("forward", "backward"), dtypes=None, sizes=True)]
    found = {_regime(check_id) for check_id, _ in failed}
    assert regimes <= found, f"{name} failed the regimes {sorted(found)}, not {sorted(regimes)}"


def test_a_wrong_count_in_half_precision_is_seen_only_by_the_scale_error_check():
    """half_count_mean's bfloat16 and float16 counts are one unit off: every element is within its
    elementwise budget, and only the scale-error check (conformance/compare.py) fails them."""
    failed = failures(_port("half_count_mean.py"), "mse_loss", ("backward",), dtypes=("float16", "bfloat16"),
                      sizes=True)
    scaled = [check_id for check_id, message in failed if message.startswith("grad of input: scaled by")]
    assert scaled, failed


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SIZE_PORTS))
def test_a_planted_size_fault_passes_the_rest_of_the_grid(name):
    functions, _ = SIZE_PORTS[name]
    target = _port(name)
    failed = [f for function in functions for f in failures(target, function, dtypes=None)]
    assert not failed, f"{name} fails the grid: {failed[:3]}"
