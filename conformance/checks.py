"""One table from each kind of check to how it runs, how its item is found from an id, and how it
is reproduced; and :func:`run_check`, which runs any of them as one judged case.

The grid's checks (forward, backward, error) live in ``harness.py``, the scale profile's in
``scale.py``; the worker process, the plugin and the report reach every kind through here.
"""

from collections.abc import Callable
from dataclasses import dataclass

from . import harness, scale, transforms
from .cases import find as find_case
from .harness import judged


@dataclass(frozen=True)
class Kind:
    run: Callable  # (item, target) -> Outcome
    find: Callable  # item id -> item
    reproduction: Callable  # (check, item, target) -> the call: and rerun: lines


CHECKS = {
    "forward": Kind(harness.check_forward, find_case, harness.reproduction),
    "backward": Kind(harness.check_backward, find_case, harness.reproduction),
    "error": Kind(harness.check_error, harness.find_error, harness.reproduction),
    "jvp": Kind(transforms.check_jvp, find_case, harness.reproduction),
    "gradgrad": Kind(transforms.check_gradgrad, find_case, harness.reproduction),
    "vmap": Kind(transforms.check_vmap, find_case, harness.reproduction),
    "scale_forward": Kind(scale.check_scale_forward, scale.find, scale.reproduction),
    "scale_backward": Kind(scale.check_scale_backward, scale.find, scale.reproduction),
}


def find(check, item_id):
    """The item (a case, an error instance, a scale case) that ``check`` runs on, from its id."""
    return CHECKS[check].find(item_id)


def reproduction(check, item, target):
    """The ``call:`` and ``rerun:`` lines of one check, without running it."""
    return CHECKS[check].reproduction(check, item, target)


def run_check(check, item, target):
    """``check`` of ``item`` on ``target``, judged as one case (:func:`conformance.harness.judged`)."""
    return judged(lambda: CHECKS[check].run(item, target), item.id, lambda: reproduction(check, item, target))
