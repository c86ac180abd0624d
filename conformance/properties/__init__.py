"""Property-based search for counterexamples, in two modules: :mod:`.strategies` (the
Hypothesis profiles, which arrays are drawn and how) and :mod:`.relations` (the properties
checked). The known divergences of torch it leaves unjudged are records of
``conformance/known_divergences/``, like the grid's.

The grid of ``cases.py`` tries fixed values; here Hypothesis draws them, shrinks any
disagreement to a small call and prints it as a pasteable snippet. Every registered function
is searched (the registry is read when the tests are collected):

* **differential**: a case of the grid (shape, options, dtype, value class), the batch size
  varied, its free real-valued arrays redrawn with subnormals, huge magnitudes, ties, NaN and
  inf; the target's forward and backward must match the reference, judged by the same checks
  as the conformance suite (:mod:`conformance.harness`);
* **metamorphic** (target and reference alike): ``"sum"`` is the sum of ``"none"``; permuting
  the batch permutes ``"none"`` and leaves ``"sum"`` and ``"mean"`` alone; ``weight=ones`` is
  no weight; ``ignore_index`` is dropping those targets (and a K-dimensional input is its
  flattened ``(M, C)`` form); the float32 result is within the float32 budget of the target's
  own float64 result on the same inputs.

Profiles: ``quick`` (a few derandomized examples per test, the default run, also used under
Hypothesis' ``default`` and ``ci`` profiles) and ``thorough``, registered on import. Select with
the environment variable ``HYPOTHESIS_PROFILE=thorough``, or with
``--hypothesis-profile=thorough`` once the profile is registered before pytest configures
Hypothesis (``-p conformance.properties`` on the command line does that).

The names the tests use are importable from here.
"""

from .relations import (
    NOT_PERMUTABLE,
    Runner,
    batch_permutation,
    check_differential,
    dropping_ignored,
    float64_bounds_float32,
    has_reductions,
    known_divergence,
    permutable,
    run_reference,
    sum_of_none,
    weight_ones,
    weights_every_term,
)
from .strategies import (
    SUPPRESSED_HEALTH_CHECKS,
    class_index_case,
    copy_call,
    drawn_cases,
    property_settings,
    with_ignored_targets,
)

__all__ = [
    "NOT_PERMUTABLE", "SUPPRESSED_HEALTH_CHECKS", "Runner", "batch_permutation", "check_differential",
    "class_index_case", "copy_call", "drawn_cases", "dropping_ignored", "float64_bounds_float32", "has_reductions",
    "known_divergence", "permutable", "property_settings", "run_reference", "sum_of_none", "weight_ones",
    "weights_every_term", "with_ignored_targets",
]
