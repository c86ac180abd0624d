"""``--target conformance.torch_targets.compiled_dynamic``: as ``compiled``, with
``torch.compile(..., dynamic=True)``: sizes are symbolic (0 and 1 are still specialized), so one
graph serves many shapes."""

from . import DIVERGENCES as _DIVERGENCES
from . import compiled_functions as _compiled_functions

INHERITS_TORCH_DIVERGENCES = True
KNOWN_DIVERGENCES = _DIVERGENCES
DYNAMIC = True

globals().update(_compiled_functions(dynamic=DYNAMIC))
