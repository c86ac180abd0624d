"""softmax and log_softmax."""

from .. import domains, sizes
from ..registry import Call, ErrorCase, Spec
from ..sizes import Size

LAST = (("dim", -1),)
# The softmax dim at vector and block boundaries and a vocabulary (one row, as a language model's last
# token), an inner (non-last) softmax dim of 1025 elements apart, and a long column of rows.
SIZES = (
    Size("vector", tuple((3, n) for n in sizes.VECTOR), LAST, "a vector main loop over a row and its tail"),
    Size("block", tuple((2, n) for n in sizes.BLOCK), LAST, "a row past a warp (1024 classes: torch's CUDA "
                                                            "softmax switches to its block kernel) or a block"),
    Size("vocabulary", ((2, sizes.VOCABULARY[0]), (1, sizes.VOCABULARY[1])), LAST,
         "a vocabulary whose last block is partial"),
    Size("spatial", ((2, 5, sizes.SPATIAL),), (("dim", 1),), "a softmax over a non-last dim, 1025 elements apart"),
    Size("count", ((sizes.COUNTS[1], 3),), (("dim", 0),), "a strided reduction over 2049 rows"),
)


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
        sizes=SIZES,
        valid=_valid,
    )


SPECS = (_spec("softmax"), _spec("log_softmax"))
