"""softmax and log_softmax."""

from .. import domains
from ..registry import Call, ErrorCase, Spec


def _sample(rng, case):
    x = domains.logits(rng, case.shape, case.dtype, case.values)
    return Call({"input": x, "dim": case.option("dim"), "dtype": case.option("dtype")})


def _valid(case):
    dim = case.option("dim")
    return dim is None or -max(len(case.shape), 1) <= dim < max(len(case.shape), 1)


def _spec(name):
    return Spec(
        name=name,
        sample=_sample,
        shapes=((), (5,), (1, 1), (3, 4), (2, 3, 4), (2, 3, 2, 2), (0, 4), (3, 0)),
        options={"dim": (None, 0, 1, -1), "dtype": (None, "float64")},
        values=domains.VALUE_CLASSES,
        errors=(
            ErrorCase("(3, 4), dim=2", lambda rng: Call({"input": domains.logits(rng, (3, 4), "float32"), "dim": 2}),
                      IndexError),
            ErrorCase("(3, 4), dim=-3", lambda rng: Call({"input": domains.logits(rng, (3, 4), "float32"), "dim": -3}),
                      IndexError),
            ErrorCase("(), dim=1", lambda rng: Call({"input": domains.logits(rng, (), "float32"), "dim": 1}),
                      IndexError),
        ),
        valid=_valid,
    )


SPECS = (_spec("softmax"), _spec("log_softmax"))
