"""Size regimes: the shapes at which a kernel leaves the path that small inputs take.

A kernel is exact on a few elements and wrong where its code branches: the vector main loop after
the scalar tail, the second block of a blocked reduction, the last partial chunk of a chunked mean,
a class index that a narrow integer type cannot hold, a count that a float16 or bfloat16
accumulator can no longer hold exactly. The grid's own shapes (a few elements each) reach none of
these, so each function's spec declares :class:`Size` records built from the boundaries below,
chosen from where kernels branch rather than at random:

* ``vector``: the reduced dimension (classes, features, the softmax dim, a 1-D loss's elements)
  at 15, 16, 17 and 33: an 8- or 16-lane main loop with a scalar tail of 15, 0, 1 or 1 elements
  after 0, 1, 1 or 2 (float32 AVX2/AVX-512, float16 NEON) vectors.
* ``block``: 255, 257, 1023, 1025 and 2049: one past and one short of a 256- and 1024-thread
  block (torch's CUDA softmax takes a warp path up to 1024 classes and a block kernel above;
  Triton's softmax tutorial tests 781 and 1823, quack 192, 668, 1024 and 1128), and the first
  element of a third 1024-block.
* ``vocabulary``: 4099 and 32001, vocabularies that are not a power of two (Liger tests
  (3, 423, 32000); quack up to 262144), so the last block of a row is partial.
* ``wide index``: 32801 classes with the last class (32800) as a target: past int16's 32767.
* ``count``: 257 and 2049 rows or elements, where bfloat16's (8 significant bits) and float16's
  (11 bits) integers stop being exact: a count, a total weight or ``1/n`` kept in the input's
  dtype is off by one unit there.
* ``half overflow``: 65537 rows, past float16's largest finite value (65504): a count or a sum
  of weights kept in float16 is infinite.
* ``chunk``: 4097, 65537 and 2**17 + 3 elements, one or three past common chunk sizes of a
  chunked mean or a grid-strided reduction (4096, 65536, 131072).
* ``spatial``: the K-dimensional path, one spatial size of 1025 (past a 1024-thread block).
* ``long sequence`` (ctc_loss): T in the hundreds with targets of tens of labels, and 257 classes.

One case per function, regime shape and dtype; the options a regime does not pin rotate over
its cases (``conformance/cases.py``). The cases carry the ``size_regime`` marker:
``-k "not size_regime"`` leaves them out, which a JIT target whose every new shape is a compile does
in its default selection (``conformance/matrix.py``).
"""

from dataclasses import dataclass

VECTOR = (15, 16, 17, 33)
BLOCK = (255, 257, 1023, 1025, 2049)
VOCABULARY = (4099, 32001)
WIDE_INDEX = 32801  # classes: the last, 32800, is past int16
COUNTS = (257, 2049)  # first integers bfloat16 and float16 cannot hold
HALF_OVERFLOW = 65537  # past float16's largest finite value, 65504
CHUNKS = (4097, 65537, 131075)
SPATIAL = 1025
COUNTING = ("count", "half overflow")  # regimes whose point is the count itself: nothing is ignored there


@dataclass(frozen=True)
class Size:
    """A size regime of one function: its ``regime`` name, its ``shapes`` (the input's), the
    options it pins (``((name, value), ...)``; the others rotate) and why it matters."""

    regime: str
    shapes: tuple
    options: tuple = ()
    why: str = ""

    def pins(self, case):
        """Whether ``case`` has this regime's pinned options."""
        return all(case.option(name) == value for name, value in self.options)


def elementwise(*pinned):
    """The regimes of an element-wise loss over any shape: its elements at vector boundaries, its
    mean's count at the half-precision limits, and past chunk boundaries; ``pinned`` options
    (e.g. ``("reduction", "mean")``) apply to the count and chunk regimes."""
    return (
        Size("vector", tuple((n,) for n in VECTOR), why="a vector main loop and its scalar tail"),
        Size("count", tuple((n,) for n in COUNTS), pinned, "a count of elements a half-precision accumulator "
                                                            "cannot hold exactly"),
        Size("chunk", tuple((n,) for n in CHUNKS), pinned, "the last partial chunk of a chunked or "
                                                            "grid-strided mean"),
    )


def rows(make, *pinned, wide=False, block=BLOCK, counts=COUNTS):
    """The regimes of a loss over rows of ``C`` classes or features: ``make(n, c)`` is the input
    shape of ``n`` rows of ``c``. The reduced dimension at vector and block boundaries (``block``:
    which of them), with ``wide`` a wide-index row, and the rows at half-precision counts
    (``counts``; none: the spec declares its own); ``pinned`` options apply to the counts."""
    out = [Size("vector", tuple(make(3, c) for c in VECTOR), why="a vector main loop over a row and its tail"),
           Size("block", tuple(make(2, c) for c in block), why="a row past a warp or a block")]
    if wide:
        out.append(Size("wide index", (make(3, WIDE_INDEX),), why="a class index past int16 (the last class "
                                                                  "is a target)"))
    if counts:
        out.append(Size("count", tuple(make(n, 3) for n in counts), pinned,
                        "a row count or total weight a half-precision accumulator cannot hold exactly"))
    return tuple(out)
