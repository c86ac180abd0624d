"""Known divergences of torch from its documented semantics: the records of
``known_divergences/*.toml`` (one file per loss family; the format is described at the top of
``classification.toml``), for the generated grid and for the property search alike.

A grid record names the cases of the grid by a ``pattern`` on the case id; they become strict
xfails (``load``, read by the pytest plugin). A property record names a ``predicate`` on the
drawn inputs of the Hypothesis search (``conformance.properties``), which are then not judged,
and a ``reproducer`` that must keep failing; both are functions of
``known_divergences/predicates.py``, where the code that data cannot express lives.
"""

import dataclasses
import functools
import os
import re
from dataclasses import dataclass

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as a package
    import tomli as tomllib

DIRECTORY = os.path.join(os.path.dirname(__file__), "known_divergences")
FIELDS = {"tests", "function", "pattern", "predicate", "reproducer", "reason", "link", "strict", "accuracy"}
ACCURACY = ("elementwise",)
TRANSFORM_CHECKS = ("jvp", "gradgrad", "vmap")


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
    # An accuracy record (a grid record with ``accuracy``): the matching cases are not xfails but are
    # judged by a narrower policy; "elementwise": by the elementwise budget alone, without the
    # scale-error check (conformance/compare.py), for a target that rounds intermediates it shares
    # between elements (torch's half-precision composites).
    accuracy: str = ""

    @property
    def kind(self):
        return "property" if not self.pattern else ("accuracy" if self.accuracy else "grid")

    def applies(self, test, case_id):
        """Whether a grid record covers ``test`` of the grid case ``case_id``."""
        return (self.kind in ("grid", "accuracy") and test in self.tests and case_id.startswith(self.function + "(")
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
    if data.get("accuracy") and (data["accuracy"] not in ACCURACY or data.get("predicate")):
        raise ValueError(f"{source}: accuracy is one of {ACCURACY}, in a grid record: {data}")
    return Divergence(tuple(data["tests"]), data["function"], data.get("pattern", ""), " ".join(data["reason"].split()),
                      data.get("link", ""), data.get("strict", True), data.get("predicate", ""),
                      data.get("reproducer", ""), data.get("accuracy", ""))


def records(directory=DIRECTORY):
    """Every record, grid and property, in the order of the files (sorted) and within them."""
    entries = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".toml"):
            continue
        with open(os.path.join(directory, name), "rb") as f:
            data = tomllib.load(f)
        for d in data.get("divergence", []):  # a list of functions stands for one record per function
            functions = d["function"] if isinstance(d.get("function"), list) else [d.get("function")]
            entries += [_record({**d, "function": f}, name) for f in functions]
    return entries


def load(directory=DIRECTORY):
    """The grid records, xfails and accuracy records, in file order (``first_applying`` says which
    decides a check of a case)."""
    return [r for r in records(directory) if r.kind in ("grid", "accuracy")]


def first_applying(entries, test, case_id):
    """The record of ``entries`` (grid and accuracy records) that decides ``test`` of the grid case
    ``case_id``, or None: see :func:`deciding`."""
    return deciding([d for d in entries if d.applies(test, case_id)])


def deciding(applying):
    """Of the records that cover a check of a case, the one that decides it, or None: the first xfail
    record (it is then an xfail), else the first accuracy record (its policy is narrowed)."""
    return next((d for d in applying if d.kind == "grid"), applying[0] if applying else None)


def by_function(entries):
    """``{function: its records}`` of ``entries``, in their order: a case looks only at its own."""
    grouped = {}
    for entry in entries:
        grouped.setdefault(entry.function, []).append(entry)
    return grouped


_TARGET_RECORDS = {}


def _records_of(target):
    """``(records, by_function(records))`` of ``target``, computed once per target module."""
    key = id(target.module)
    cached = _TARGET_RECORDS.get(key)
    if cached is None or cached[0] is not target.module:
        own = getattr(target.module, "KNOWN_DIVERGENCES", None) if not target.is_torch else None
        entries = load(own) if own else []
        if target.inherits_torch_divergences:
            inherited = load()
            if not target.is_torch:
                inherited = [dataclasses.replace(d, strict=False) for d in inherited]
            entries += inherited
        cached = _TARGET_RECORDS[key] = (target.module, entries, by_function(entries))
    return cached[1:]


def for_target(target):
    """The grid and accuracy records that apply to ``target``: its own (its module's
    ``KNOWN_DIVERGENCES`` directory) first, then torch's where it inherits them
    (``Target.inherits_torch_divergences``), not strict for a target derived from torch, which may
    conform where eager does not."""
    return _records_of(target)[0]


def narrowed(tolerance, target, test, case_id):
    """``tolerance`` (a ``compare.Tolerance``) as the target's accuracy record for ``test`` of
    ``case_id`` narrows it, if one decides that check: "elementwise" drops the scale-error check."""
    own = _records_of(target)[1].get(case_id.split("(", 1)[0], ())
    record = first_applying(own, test, case_id)
    if record is not None and record.accuracy == "elementwise":
        return dataclasses.replace(tolerance, systematic=None)
    return tolerance


def for_function(name, directory=DIRECTORY):
    """Every record of the function ``name``, grid and property, in file order."""
    return [r for r in records(directory) if r.function == name]


TRANSFORMS_FILE = os.path.join(os.path.dirname(__file__), "unsupported_transforms.toml")


@functools.cache
def unsupported_transforms():
    """``{function: {check: reason}}``: the transforms torch does not implement
    (``unsupported_transforms.toml``), for torch and the targets that inherit its divergences."""
    with open(TRANSFORMS_FILE, "rb") as f:
        data = tomllib.load(f)
    out = {}
    for record in data.get("unsupported", []):
        if set(record) != {"function", "checks", "reason", "details"} or not set(record["checks"]) <= set(
                TRANSFORM_CHECKS) or "\n" in record["reason"]:
            raise ValueError(f"{TRANSFORMS_FILE}: a record has exactly function, checks (of {TRANSFORM_CHECKS}), "
                             f"reason (one line) and details: {record}")
        for check in record["checks"]:
            out.setdefault(record["function"], {})[check] = record["reason"]
    return out


@functools.cache
def unsupported_transform_details():
    """``{function: details}`` of torch's unsupported transforms, for SPEC.md."""
    with open(TRANSFORMS_FILE, "rb") as f:
        records = tomllib.load(f).get("unsupported", [])
    return {r["function"]: " ".join(r["details"].split()) for r in records}
