"""``--target conformance.torch_targets.compiled_dynamic``: as ``compiled``, with
``torch.compile(..., dynamic=True)``: sizes are symbolic (0 and 1 are still specialized), so one
graph serves many shapes."""

from . import DIVERGENCES as _DIVERGENCES
from . import compiled_functions as _compiled_functions
from . import compiled_unsupported_transforms as _unsupported_transforms

INHERITS_TORCH_DIVERGENCES = True
KNOWN_DIVERGENCES = _DIVERGENCES
UNSUPPORTED_TRANSFORMS = _unsupported_transforms()  # jvp, gradgrad, vmap: see torch_targets/__init__.py
DYNAMIC = True

globals().update(_compiled_functions(dynamic=DYNAMIC))
