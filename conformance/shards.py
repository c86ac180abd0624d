"""Shards: shard K of N of a selection, for N jobs of a CI matrix (``--shard K/N``).

The split depends only on the selected checks and on the costs below (data shipped with the
suite), never on the machine, the Python or an earlier run, so every job computes the same split
and the N shards together run each selected check exactly once.

* The checks of one call signature stay together: a group is a function, a dtype, a shape and a
  device (every option combination of that shape, every kind of check), or a function's error
  cases on a device. A JIT target (``torch.compile``) then compiles each signature once, in one
  shard, not once per shard.
* Groups are spread by cost, not by count: the longest first, each to the shard with the least
  cost so far (ties to the lower shard), Graham's longest-processing-time rule, within 4/3 of the
  best split. A group's cost is the sum over its checks of the function's relative cost
  (``FUNCTION_COST``: ctc_loss's reference runs a dynamic program in Python), the kind's
  (``KIND_COST``: a vmap check runs the loss six times) and ``1 + elements / 4096``.

``python -m conformance merge`` (``conformance/merge.py``) joins the shards' reports into one.
"""

import math

FUNCTION_COST = {"ctc_loss": 6.0, "multilabel_margin_loss": 2.0, "multi_margin_loss": 2.0,
                 "triplet_margin_with_distance_loss": 2.0, "triplet_margin_loss": 1.5, "cross_entropy": 1.5,
                 "gaussian_nll_loss": 1.5}  # the others 1
KIND_COST = {"forward": 1.0, "backward": 1.5, "error": 0.5, "jvp": 2.0, "gradgrad": 3.0, "vmap": 4.0,
             "scale_forward": 50.0, "scale_backward": 80.0}


def group_of(item):
    """The call signature an item (a case, a transform case, an error instance, a scale case) runs."""
    shape = getattr(item, "shape", None)
    if shape is None:
        return (item.function, "errors", "", item.device)
    return (item.function, getattr(item, "dtype", ""), repr(tuple(shape)), item.device)


def cost(check, item):
    shape = getattr(item, "shape", None) or ()
    elements = math.prod(int(n) for n in shape) if shape else 1
    return FUNCTION_COST.get(item.function, 1.0) * KIND_COST.get(check, 1.0) * (1.0 + elements / 4096)


def assign(checks, count):
    """``{group: shard index (0 to count - 1)}`` for the ``(check, item)`` pairs ``checks``."""
    costs = {}
    for check, item in checks:
        group = group_of(item)
        costs[group] = costs.get(group, 0.0) + cost(check, item)
    loads = [0.0] * count
    shard_of = {}
    for group in sorted(costs, key=lambda g: (-costs[g], g)):
        shard = min(range(count), key=lambda k: (loads[k], k))
        shard_of[group] = shard
        loads[shard] += costs[group]
    return shard_of


def keep(checks, shard):
    """Which of ``checks`` (``(check, item)`` pairs) shard ``(k, n)`` runs, as booleans in order."""
    k, n = shard
    shard_of = assign(checks, n)
    return [shard_of[group_of(item)] == k - 1 for _, item in checks]
