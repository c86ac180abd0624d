"""The suite's options, each declared once, and the one rule for a bad value.

:data:`SUITE` holds the options of a conformance run: their name, environment variable, default,
help and check. The pytest plugin registers them (``--conformance-NAME``, and ``--NAME`` where no
other plugin took it); ``python -m conformance`` builds its parser from the same rows and hands
the values on to the plugin. So an environment variable works the same through both.

A bad value of any option the suite defines, in any command, is a usage error: one line naming
the option, the value and what is allowed, and exit code 4 (:data:`USAGE_ERROR`), before anything
runs. :class:`Parser` gives argparse's own errors (a missing argument, a non-number) the same
exit code, instead of argparse's 2, which this suite uses for "interrupted".

Directories named as outputs (``--report-dir``, ``--out``) are created when missing.
"""

import argparse
import dataclasses
import json
import math
import os
import sys
from collections.abc import Callable

from .dtypes import FLOAT_DTYPES

USAGE_ERROR = 4
DEFAULT_TARGET = "torch.nn.functional"
ALL_DEVICES = ("cpu", "cuda")  # --device all
PROFILES = ("default", "scale", "scale-smoke")
CASE_TIMEOUT = {"default": 60.0, "scale": 1800.0, "scale-smoke": 60.0}  # seconds, when not given


class UsageError(ValueError):
    """A bad option value; its text is the one line the user sees."""


# --- checks of one value: each returns the parsed value or raises ValueError("what is allowed") ---


def names_from(allowed, *, everything=None):
    """A check of a comma-separated list of names out of ``allowed`` (``everything``, e.g. "all",
    stands for all of them); the names in the given order, without repeats."""

    def check(value):
        if everything is not None and value.strip() == everything:
            return tuple(allowed)
        names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
        unknown = [n for n in names if n not in allowed]
        if unknown or not names:
            what = f"unknown {', '.join(map(repr, unknown))}" if unknown else "no name given"
            choices = ", ".join(allowed) + (f" or {everything}" if everything else "")
            raise ValueError(f"{what}; choose from {choices}")
        return names

    return check


def one_of(*allowed):
    def check(value):
        if value not in allowed:
            raise ValueError(f"choose from {', '.join(allowed)}")
        return value

    return check


def number(kind=float, *, minimum=None, above=None):
    """A check of a number of ``kind``, at least ``minimum`` or strictly above ``above``."""

    def check(value):
        try:
            parsed = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"not {'an integer' if kind is int else 'a number'}") from None
        if not math.isfinite(parsed):
            raise ValueError("not a finite number")
        if minimum is not None and parsed < minimum:
            raise ValueError(f"must be at least {minimum}")
        if above is not None and parsed <= above:
            raise ValueError(f"must be more than {above}")
        return parsed

    return check


def shard(value):
    """``K/N``: shard K (1 to N) of N."""
    k, slash, n = value.partition("/")
    try:
        k, n = int(k), int(n)
    except ValueError:
        raise ValueError("not K/N (e.g. 2/5)") from None
    if not slash or n < 1 or not 1 <= k <= n:
        raise ValueError("not K/N with 1 <= K <= N")
    return k, n


def workers(value):
    """pytest-xdist's ``-n``: a count of 0 or more, or auto / logical."""
    if value in ("auto", "logical"):
        return value
    return str(number(int, minimum=0)(value))


def functions(value):
    """Registered function names, exactly; in registry order."""
    from .registry import select_functions

    return select_functions(value)


def devices(value):
    """Devices torch names (cpu, cuda, cuda:1, xpu, mps, a privateuse1 backend), or all."""
    if value.strip() == "all":
        return ALL_DEVICES
    names = tuple(dict.fromkeys(d.strip() for d in value.split(",") if d.strip()))
    if not names:
        raise ValueError("no device given")
    if names == ("cpu",):
        return names
    import torch

    for name in names:
        try:
            torch.device(name)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"{name!r} is not a device torch knows ({exc})") from None
    return names


def input_file(value):
    if not os.path.exists(value):
        raise ValueError("no such file")
    if os.path.isdir(value):
        raise ValueError("a directory, where a file is expected")
    return value


def input_directory(value):
    if not os.path.exists(value):
        raise ValueError("no such directory")
    if not os.path.isdir(value):
        raise ValueError("a file, where a directory is expected")
    return value


def json_file(value):
    """A readable file of JSON: the parsed object."""
    input_file(value)
    try:
        with open(value, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise ValueError(f"cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None


def output_directory(value):
    """A directory to write into: created when missing; an existing file or an unwritable place is an error."""
    if os.path.exists(value) and not os.path.isdir(value):
        raise ValueError("a file, where a directory is expected")
    try:
        os.makedirs(value, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create it ({exc.strerror or exc})") from None
    if not os.access(value, os.W_OK | os.X_OK):
        raise ValueError("not writable")
    return value


def parse(flag, value, check, variable=None):
    """``check(value)``, or a :class:`UsageError` naming the option (and the environment variable
    the value came from), the value and what is allowed."""
    try:
        return check(value)
    except ValueError as exc:
        source = f" (from {variable})" if variable and os.environ.get(variable) == value else ""
        raise UsageError(f"{flag} {value!r}{source}: {exc}") from None


# --- the options of a conformance run ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Option:
    name: str  # --NAME, --conformance-NAME, CONFORMANCE_NAME
    help: str
    default: str | None = None
    metavar: str | None = None
    check: Callable | None = None  # str -> value; raises ValueError saying what is allowed

    @property
    def flag(self):
        return "--" + self.name

    @property
    def dest(self):
        return "conformance_" + self.name.replace("-", "_")

    @property
    def attribute(self):
        """Its name in an argparse namespace of :func:`add_suite_options`."""
        return self.name.replace("-", "_")

    @property
    def variable(self):
        return "CONFORMANCE_" + self.name.upper().replace("-", "_")

    def initial(self):
        """The value when the option is not given: its environment variable, else its default."""
        return os.environ.get(self.variable) or self.default

    def parse(self, value):
        """The checked value (None stays None: not given and no default)."""
        if value is None or self.check is None:
            return value
        return parse(self.flag, str(value), self.check, self.variable)


# The kinds of check of the default profile: the grid's (the scale profile runs its own two).
CHECK_KINDS = ("forward", "backward", "error", "jvp", "gradgrad", "vmap")
TRANSFORM_DTYPES = ("float64", "float32")  # the dtypes of the transform checks' grid (cases.transform_grid)

SUITE = (
    Option("target", "module name or .py file implementing torch.nn.functional's losses (default: "
                     "torch.nn.functional). Write a path as --target=PATH.", DEFAULT_TARGET, "MODULE_OR_FILE"),
    Option("device", "comma-separated devices to run the cases on, any that torch names (cpu, cuda, cuda:1, xpu, "
                     "mps, a privateuse1 backend), or all (cpu and cuda); default cpu; one that is not available "
                     "skips with the reason", "cpu", "DEVICES", devices),
    Option("dtype", f"comma-separated dtypes ({','.join(FLOAT_DTYPES)}) or all (the default)", "all", "DTYPES",
           names_from(FLOAT_DTYPES, everything="all")),
    Option("function", "check only these functions, by exact name (-k matches substrings: -k cross_entropy also "
                       "selects binary_cross_entropy)", None, "NAME[,NAME...]", functions),
    Option("check", f"comma-separated kinds of check ({','.join(CHECK_KINDS)}) or all (the default); jvp, gradgrad "
                    "and vmap are the transforms, on float64 and float32 cases", "all", "CHECKS",
           names_from(CHECK_KINDS, everything="all")),
    Option("shard", "run shard K of N (K/N, e.g. 2/5) of the selected checks: N jobs with the same selection run "
                    "each check exactly once, balanced by cost, the checks of one call signature in one shard; merge "
                    "the reports with python -m conformance merge", None, "K/N", shard),
    Option("case-timeout", "time limit of one check, in seconds, more than 0; a target that takes longer is killed "
                           "and the case ends as timeout (default 60, room for a JIT's first compile; 1800 in the "
                           "scale profile)", None, "SECONDS", number(float, above=0)),
    Option("profile", "default: the case grid (small shapes, every option, and the size regimes); scale: production "
                      "shapes instead (an LLM vocabulary, 2**27 elements, T = 1000; minutes and up to 16 GiB on "
                      "the CPU); scale-smoke: the scale cases at tiny shapes", "default", "|".join(PROFILES),
           one_of(*PROFILES)),
    Option("isolation", "process (default): the target runs in a worker process, so a hang or a crash fails one "
                        "case and the run goes on; none: in the test process (for a debugger)", "process",
           "process|none", one_of("process", "none")),
)
BY_NAME = {o.name: o for o in SUITE}


def help_text(option):
    return f"{option.help}; env {option.variable}"


def argument(check):
    """``check`` as an argparse ``type``: a bad value becomes argparse's error, which :class:`Parser` makes exit 4."""

    def convert(value):
        try:
            return check(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{value!r}: {exc}") from None

    convert.__name__ = getattr(check, "__name__", "value")
    return convert


class Parser(argparse.ArgumentParser):
    """argparse, with its errors as this suite's usage error: one line, exit 4."""

    def error(self, message):
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(USAGE_ERROR)


def add_suite_options(parser, only=None):
    """The run's options (all, or those named in ``only``) on an argparse parser, defaults from the environment."""
    for option in SUITE:
        if only is None or option.name in only:
            parser.add_argument(option.flag, dest=option.attribute, default=option.initial(), metavar=option.metavar,
                                help=help_text(option))


def checked(args, only=None):
    """The run's options of an argparse namespace, checked: name -> value (a :class:`UsageError` if bad)."""
    return {o.name: o.parse(getattr(args, o.attribute)) for o in SUITE if only is None or o.name in only}


def usage_error(error, prog="python -m conformance"):
    """Print the one line of a usage error; the exit code."""
    print(f"{prog}: error: {error}", file=sys.stderr)
    return USAGE_ERROR
