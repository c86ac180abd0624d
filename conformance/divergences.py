"""Known divergences of torch from its documented semantics: the records of
``known_divergences/*.toml`` (one file per loss family; the format is described at the top of
``classification.toml``), for the generated grid and for the property search alike.

A grid record names the cases of the grid by a ``pattern`` on the case id; they become strict
xfails (``load``, read by the pytest plugin). A property record names a ``predicate`` on the
drawn inputs of the Hypothesis search (``conformance.properties``), which are then not judged,
and a ``reproducer`` that must keep failing; both are functions of
``known_divergences/predicates.py``, where the code that data cannot express lives.
"""

import os
import re
from dataclasses import dataclass

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as a package
    import tomli as tomllib

DIRECTORY = os.path.join(os.path.dirname(__file__), "known_divergences")
FIELDS = {"tests", "function", "pattern", "predicate", "reproducer", "reason", "link", "strict"}


@dataclass(frozen=True)
class Divergence:
    tests: tuple  # the checks: forward, backward, error
    function: str
    pattern: str  # grid records: a regular expression searched in the case id; "" in property records
    reason: str
    link: str = ""
    strict: bool = True  # false only for bugs that pass by chance (uninitialized memory)
    predicate: str = ""  # property records: names in known_divergences/predicates.py
    reproducer: str = ""

    @property
    def kind(self):
        return "grid" if self.pattern else "property"

    def applies(self, test, case_id):
        """Whether a grid record covers ``test`` of the grid case ``case_id``."""
        return (self.kind == "grid" and test in self.tests and case_id.startswith(self.function + "(")
                and re.search(self.pattern, case_id) is not None)

    def holds_for(self, test, drawn):
        """Whether a property record covers ``test`` of a drawn case (``conformance.properties``)."""
        return (self.kind == "property" and test in self.tests and drawn.function == self.function
                and _named(self.predicate)(drawn))

    def reproduce(self, target):
        """Whether the property record's reproducer still diverges on ``target``."""
        return _named(self.reproducer)(target.function(self.function), self.function)

    @property
    def explanation(self):
        return f"known torch divergence: {self.reason}" + (f" ({self.link})" if self.link else "")


def _named(name):
    # Imported on first use: the plugin reads the grid records at collection, and the
    # predicates need the property search's strategies (Hypothesis) and torch.
    from .known_divergences import predicates

    return getattr(predicates, name)


def _record(data, source):
    unknown = set(data) - FIELDS
    if unknown or bool(data.get("pattern")) == bool(data.get("predicate")):
        raise ValueError(f"{source}: a record has a pattern or a predicate (not both) and no other fields than "
                         f"{sorted(FIELDS)}: {data}")
    if data.get("predicate") and (not data.get("reproducer") or not data.get("strict", True)):
        raise ValueError(f"{source}: a property record names a reproducer, which must keep failing (strict): {data}")
    return Divergence(tuple(data["tests"]), data["function"], data.get("pattern", ""), " ".join(data["reason"].split()),
                      data.get("link", ""), data.get("strict", True), data.get("predicate", ""),
                      data.get("reproducer", ""))


def records(directory=DIRECTORY):
    """Every record, grid and property, in the order of the files (sorted) and within them."""
    entries = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".toml"):
            continue
        with open(os.path.join(directory, name), "rb") as f:
            data = tomllib.load(f)
        entries += [_record(d, name) for d in data.get("divergence", [])]
    return entries


def load(directory=DIRECTORY):
    """The grid records: the strict (or not) xfails of the generated cases."""
    return [r for r in records(directory) if r.kind == "grid"]


def for_function(name, directory=DIRECTORY):
    """Every record of the function ``name``, grid and property, in file order."""
    return [r for r in records(directory) if r.function == name]
