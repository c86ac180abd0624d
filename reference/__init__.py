"""Plain-NumPy reference implementations of torch.nn.functional's losses.

Every function here has torch's name and signature (without the deprecated
``size_average``/``reduce`` and private arguments), computes in float64 and never imports
torch. Each ``f`` has an ``f_backward(grad_output, *args, **kwargs)`` that returns a dict
mapping each floating-point argument torch differentiates to its gradient.

One module per family; each lists its public functions in ``__all__``.
"""

from . import binary, classification, ctc, margin, probabilistic, regression, softmaxes, triplet
from ._reduction import REDUCTIONS, reduce, reduce_backward
from .binary import *  # noqa: F403
from .classification import *  # noqa: F403
from .ctc import *  # noqa: F403
from .margin import *  # noqa: F403
from .probabilistic import *  # noqa: F403
from .regression import *  # noqa: F403
from .softmaxes import *  # noqa: F403
from .triplet import *  # noqa: F403

_FAMILIES = (softmaxes, classification, binary, regression, probabilistic, margin, triplet, ctc)

__all__ = ["REDUCTIONS", "reduce", "reduce_backward"] + [name for m in _FAMILIES for name in m.__all__]

__version__ = "0.1.0"
