"""``--target conformance.torch_targets.compiled``: each function of ``torch.nn.functional``
through ``torch.compile(..., dynamic=False)`` on inductor; a call that Dynamo runs eagerly fails
its case (see ``conformance/torch_targets/__init__.py``)."""

from . import DIVERGENCES as _DIVERGENCES
from . import compiled_functions as _compiled_functions

INHERITS_TORCH_DIVERGENCES = True  # torch's eager divergences show as xfails here too
KNOWN_DIVERGENCES = _DIVERGENCES  # and these hold for torch.compile only
DYNAMIC = False

globals().update(_compiled_functions(dynamic=DYNAMIC))
