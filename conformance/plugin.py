"""The pytest plugin: options, case parametrization, selection and known-divergence xfails.

Installed as the ``pytest11`` entry point ``conformance.plugin``, so ``pytest --pyargs
conformance`` works from any directory, and ``-p conformance.plugin`` or this checkout's root
``conftest.py`` find it already registered under that name.

It must not harm a project that merely has the package installed:

* every option has a namespaced form (``--conformance-target``, ``--conformance-device``,
  ``--conformance-dtype``, ``--conformance-function``) that is always registered; the short
  forms (``--target``, ...) are registered only when no other plugin or initial conftest took
  them first;
* cases are generated only for the suite's own test modules, and the target is loaded only
  when their items are collected;
* the suite's settings (strict xfails, the warning filters, no logging plugin) apply to its
  own items or to runs of the suite alone, and come from here, not from an ini file that a
  wheel install does not have.

Selection costs what it selects: the case grid is filtered while the tests are generated, by
``--function`` (exact names), by node ids given on the command line, and by ``-k``, which is
evaluated here on the name each item will have, with pytest's own expression parser and
matching rules (case-insensitive substrings of the item's name, its parents' names and its
markers), so the items kept are exactly those pytest's own ``-k`` keeps afterwards.
"""

import argparse
import functools
import importlib.util
import inspect
import os
import warnings
import zlib

import pytest

from . import options
from .report import model as report_model

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
TESTS = {"test_forward": "forward", "test_backward": "backward", "test_error": "error",
         "test_jvp": "jvp", "test_gradgrad": "gradgrad", "test_vmap": "vmap",
         "test_scale_forward": "scale_forward", "test_scale_backward": "scale_backward"}
SCALE_TESTS = ("test_scale_forward", "test_scale_backward")
TRANSFORM_TESTS = ("test_jvp", "test_gradgrad", "test_vmap")
HYPOTHESIS_PROFILES = ("quick", "thorough")  # registered by conformance.properties


def pytest_addoption(parser, pluginmanager):
    group = parser.getgroup("conformance", "torch-loss-conformance")
    for o in options.SUITE:
        group.addoption("--conformance-" + o.name, dest=o.dest, default=o.initial(), metavar=o.metavar,
                        help=options.help_text(o))
    # Generate every case and leave selection to pytest alone: what the tests of lazy selection compare with.
    group.addoption("--conformance-collect-all", action="store_true", help=argparse.SUPPRESS)
    if _loaded_by_conftest(pluginmanager):
        _add_short_forms(parser)  # the conftest that loaded us has declared its options already


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # The short forms wait until the project's initial conftests have declared their options:
    # a conftest that defines --device must keep working with this package installed.
    result = yield
    _add_short_forms(parser)
    return result


def _loaded_by_conftest(pluginmanager):
    return any(os.path.basename(getattr(p, "__file__", None) or "") == "conftest.py"
               for p in pluginmanager.get_plugins())


def _taken(parser):
    names = set()
    for group in [getattr(parser, "_anonymous", None), *getattr(parser, "_groups", [])]:
        for option in getattr(group, "options", []):
            names.update(option.names())
    return names


def _add_short_forms(parser):
    taken = _taken(parser)
    group = parser.getgroup("conformance")
    for o in options.SUITE:
        if o.flag not in taken:
            group.addoption(o.flag, dest=o.dest, default=o.initial(), metavar=o.metavar,
                            help=f"same as --conformance-{o.name}")


def option(config, name):
    """The value of ``--conformance-<name>`` (or of its short form), checked (see conformance/options.py)."""
    try:
        return options.BY_NAME[name.replace("_", "-")].parse(config.getoption("conformance_" + name))
    except options.UsageError as exc:
        raise pytest.UsageError(str(exc)) from None


def case_timeout(config):
    """Seconds one check may take: as given, else the profile's default."""
    given = option(config, "case_timeout")
    return given if given is not None else options.CASE_TIMEOUT[profile(config)]


def profile(config):
    return option(config, "profile")


# --- settings ---------------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)  # before Hypothesis loads --hypothesis-profile, before logging registers
def pytest_configure(config):
    _check_target_spelling(config)
    config.addinivalue_line("markers", "size_regime: a size-regime case of the conformance grid "
                                       "(conformance/sizes.py): large shapes where kernels take another path")
    for o in options.SUITE:  # a bad value is a usage error before collection
        option(config, o.dest[len("conformance_"):])
    if getattr(config.option, "hypothesis_profile", None) in HYPOTHESIS_PROFILES:
        import conformance.properties  # noqa: F401  (registers the profiles Hypothesis is asked to load)
    if _runs_only_the_suite(config):
        _launch_worker(config)
        # The logging plugin attaches a handler to each of torch's ~40 loggers around every test
        # phase: with tens of thousands of tests that is a third of the run. Blocked by name, its
        # registration in its own pytest_configure does nothing.
        config.pluginmanager.set_blocked("logging-plugin")


EARLY_WORKER = pytest.StashKey()


def _launch_worker(config):
    """A run of the suite alone that will run checks here starts its worker now, so that the
    worker's imports overlap this process's collection (seconds of every short run)."""
    xdist_controller = (getattr(config.option, "numprocesses", None) or getattr(config.option, "dist", "no") != "no") \
        and not hasattr(config, "workerinput")
    if config.option.collectonly or xdist_controller or option(config, "isolation") == "none":
        return
    from .isolation import Isolated

    runner = Isolated(option(config, "target"), str(config.invocation_params.dir), case_timeout(config))
    runner.launch()
    config.stash[EARLY_WORKER] = runner


def pytest_unconfigure(config):
    runner = config.stash.get(EARLY_WORKER, None)
    if runner is not None:  # launched and never used: no check ran
        runner.close()


def _runs_only_the_suite(config):
    """True when every path the run collects lies inside this package (``pytest --pyargs conformance``)."""
    paths = [_argument_path(config, arg) for arg in config.args]
    return bool(paths) and all(p is not None and _inside(p, PACKAGE_DIR) for p in paths)


@functools.lru_cache(maxsize=4096)  # asked for every collected item, of any project
def _inside(path, directory):
    path, directory = os.path.realpath(path), os.path.realpath(directory)
    return path == directory or path.startswith(directory + os.sep)


def _argument_path(config, arg):
    """The file or directory a command-line argument names (``path::test[id]`` or, with
    ``--pyargs``, ``package.module::test``), or None."""
    head = str(arg).split("::", 1)[0]
    path = os.path.join(str(config.invocation_params.dir), head)
    if os.path.exists(path):
        return path
    if config.option.pyargs:
        try:
            found = importlib.util.find_spec(head)
        except (ImportError, ValueError):
            return None
        if found is not None and found.origin:
            return os.path.dirname(found.origin) if found.origin.endswith("__init__.py") else found.origin
    return None


def _check_target_spelling(config):
    """``--target PATH`` (with a space): pytest picks its rootdir and ini file from the path
    arguments before plugins declare their options, so it took PATH for a test path. Where
    that moved the rootdir or the ini file, stop and say what to type."""
    args = list(config.invocation_params.args)
    for i, arg in enumerate(args[:-1]):
        if arg not in ("--target", "--conformance-target"):
            continue
        value = args[i + 1]
        if value.startswith("-") or not os.path.exists(os.path.join(str(config.invocation_params.dir), value)):
            continue
        try:
            from _pytest.config.findpaths import determine_setup

            keywords = dict(inifile=config.option.inifilename, override_ini=config.option.override_ini,
                            args=[str(a) for a in config.option.file_or_dir or []],
                            rootdir_cmd_arg=config.option.rootdir or None, invocation_dir=config.invocation_params.dir)
            accepted = inspect.signature(determine_setup).parameters
            rootpath, inipath = determine_setup(**{k: v for k, v in keywords.items() if k in accepted})[:2]
        except Exception:  # another pytest: say nothing rather than guess
            return
        if (rootpath, inipath) != (config.rootpath, config.inipath):
            raise pytest.UsageError(
                f"{arg} {value}: write {arg}={value} (with '='). pytest chooses its rootdir and ini file from path "
                f"arguments before it knows {arg}, so with a space it took {value} for a test path and chose "
                f"rootdir {config.rootpath} instead of {rootpath}.")


# --- selection ----------------------------------------------------------------------------------


def selected_dtypes(config):
    return option(config, "dtype")


def selected_devices(config):
    return option(config, "device")


def selected_functions(config):
    """The ``--function`` names (exact), or None for all."""
    return option(config, "function")


def _ours(node):
    return _inside(str(node.path), PACKAGE_DIR)


class _Selection:
    """What the command line selects of one test function's parameters: names from
    ``--function``, ids from node-id arguments, and the ``-k`` expression."""

    def __init__(self, metafunc):
        config = metafunc.config
        self.name = metafunc.function.__name__
        self.functions = selected_functions(config)
        everything = config.getoption("conformance_collect_all")
        self.ids = None if everything else _node_ids(config, str(metafunc.definition.path), self.name)
        self.keyword = None
        text = (config.option.keyword or "").strip()
        if text and not everything:
            try:
                from _pytest.mark import KeywordMatcher
                from _pytest.mark.expression import Expression

                self.keyword = Expression.compile(text)
                self.static = KeywordMatcher.from_item(metafunc.definition)
            except Exception:  # a malformed expression: pytest reports it; another pytest: select all
                self.keyword = None

    def keeps(self, function, item_id, marks):
        if self.functions is not None and function not in self.functions:
            return False
        if self.ids is not None and item_id not in self.ids:
            return False
        if self.keyword is None:
            return True
        name = f"{self.name}[{item_id}]".lower()
        mark_names = [m.name.lower() for m in marks]

        def matches(subname, **kwargs):
            subname = subname.lower()
            return subname in name or any(subname in m for m in mark_names) or self.static(subname, **kwargs)

        return self.keyword.evaluate(matches)


def _node_ids(config, module_path, function_name):
    """The parameter ids that node-id arguments (``path::test_forward[id]``) select for this
    test function, or None when some argument selects all of it (or names nothing here)."""
    ids, whole = set(), False
    for arg in config.args:
        path = _argument_path(config, arg)
        if path is None or not _inside(module_path, path):
            continue
        parts = str(arg).split("::")[1:]
        if not parts:
            whole = True
            continue
        test, bracket, rest = parts[0].partition("[")
        if test == function_name:
            if bracket and len(parts) == 1 and rest.endswith("]"):
                ids.add(rest[:-1])
            else:
                whole = True
    return None if whole or not ids else ids


def _divergences(config):
    """The known divergences that apply to the target (``divergences.for_target``): its own records
    first, then torch's where it inherits them."""
    cache = config.stash.setdefault(_DIVERGENCES, {})
    if "entries" not in cache:
        from .divergences import for_target

        try:
            cache["entries"] = list(for_target(load_target(config)))
        except pytest.UsageError:
            cache["entries"] = []  # reported once, when the items are collected
        cache["used"], cache["functions"] = set(), set()
    return cache


_DIVERGENCES = pytest.StashKey()
_TARGET = pytest.StashKey()


def _params(metafunc, items, check):
    """``pytest.param`` for each selected item (case or error instance), with its known-divergence xfail."""
    from .divergences import by_function, deciding

    selection = _Selection(metafunc)
    known = _divergences(metafunc.config)
    own = by_function(known["entries"])  # each item looks only at its own function's records
    params = []
    for item in items:
        if selection.functions is not None and item.function not in selection.functions:
            continue
        applicable = [d for d in own.get(item.function, ()) if d.applies(check, item.id)]
        decides = deciding(applicable)  # an accuracy record is judged in the check itself
        marks = [pytest.mark.xfail(strict=decides.strict, reason=decides.explanation)] \
            if decides is not None and decides.kind == "grid" else []
        if getattr(item, "regime", ""):
            marks.append(pytest.mark.size_regime)  # -k "not size_regime" leaves out the large shapes
        if not selection.keeps(item.function, item.id, marks):
            continue
        known["functions"].add(item.function)
        known["used"].update(applicable)
        params.append(pytest.param(item, id=item.id, marks=marks))
    return params


def _parametrized_by_test(metafunc, name):
    return any(name in marker.args[0] for marker in metafunc.definition.iter_markers("parametrize"))


def pytest_generate_tests(metafunc):
    if not _ours(metafunc.definition):
        return
    config = metafunc.config
    check = TESTS.get(metafunc.function.__name__)
    if "case" in metafunc.fixturenames and not _parametrized_by_test(metafunc, "case"):
        from .cases import conformance_grid

        cases = conformance_grid(selected_functions(config), selected_dtypes(config), selected_devices(config))
        metafunc.parametrize("case", _params(metafunc, cases, check))
    if "transform_case" in metafunc.fixturenames:
        from .cases import transform_grid

        cases = transform_grid(selected_functions(config), selected_dtypes(config), selected_devices(config))
        metafunc.parametrize("transform_case", _params(metafunc, cases, check))
    if "scale_case" in metafunc.fixturenames:
        from . import scale

        cases = scale.cases(profile(config), selected_functions(config), selected_dtypes(config),
                            selected_devices(config))
        metafunc.parametrize("scale_case", _params(metafunc, cases, check))
    if "error_instance" in metafunc.fixturenames:
        from .harness import ErrorInstance
        from .registry import REGISTRY

        functions = selected_functions(config)
        instances = [ErrorInstance(name, i, device) for device in selected_devices(config)
                     for name, spec in REGISTRY.items() if functions is None or name in functions
                     for i in range(len(spec.errors))]
        metafunc.parametrize("error_instance", _params(metafunc, instances, check))


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector, name, obj):
    """The profile chooses the suite's tests: the scale tests in a scale profile, every other one in
    the default profile (the other's tests are not collected at all, so they count nowhere)."""
    if not (name.startswith("test") and callable(obj) and _ours(collector)):
        return None
    scale = profile(collector.config) != "default"
    if (name in SCALE_TESTS) != scale:
        return []
    if not scale and name in TESTS and TESTS[name] not in option(collector.config, "check"):
        return []  # --check leaves the other kinds out
    if name in TRANSFORM_TESTS and not set(options.TRANSFORM_DTYPES) & set(selected_dtypes(collector.config)):
        return []  # the transforms run in float64 and float32 only
    return None


def _item_function(item):
    """The registry function an item of the suite checks, when it says."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    for value in params.values():
        name = getattr(value, "function", None)
        if isinstance(name, str):
            return name
    value = params.get("function")
    return value if isinstance(value, str) else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session):
    # A run of the suite alone loads its target before it generates the grid: a target that cannot be
    # loaded is a usage error at once, not after the collection of 50,000 items.
    if _runs_only_the_suite(session.config):
        load_target(session.config)


def pytest_collection_modifyitems(session, config, items):
    ours = [item for item in items if _ours(item)]
    if not ours:
        return
    functions = selected_functions(config)
    if functions is not None:
        kept, dropped = [], []
        for item in items:
            function = _item_function(item) if _ours(item) else None
            (dropped if function is not None and function not in functions else kept).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
    if option(config, "shard") is not None:
        _shard(config, items)
    for item in ours:
        item.add_marker(pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"))
    if any("target" in getattr(item, "fixturenames", ()) for item in items if _ours(item)):
        load_target(config)
    _warn_stale_divergences(config)


def _warn_stale_divergences(config):
    known = config.stash.get(_DIVERGENCES, None)
    if not known or not known.get("entries"):
        return
    markexpr = (config.getoption("markexpr") or "").strip()
    restricted = (profile(config) != "default" or config.getoption("conformance_dtype") != "all"
                  or set(option(config, "check")) != set(options.CHECK_KINDS)
                  or config.getoption("keyword")
                  or markexpr not in ("", "not slow")  # the checkout's default leaves out only its own slow tests
                  or option(config, "function") or any("::" in str(arg) for arg in config.args))
    if restricted:
        return
    for divergence in known["entries"]:
        if divergence not in known["used"] and divergence.function in known["functions"]:
            warnings.warn(pytest.PytestWarning(
                f"known_divergences: the entry for {divergence.function} matching "
                f"{divergence.pattern!r} matches no {'/'.join(divergence.tests)} test: is it stale?"), stacklevel=1)


# --- the target -----------------------------------------------------------------------------------


def load_target(config):
    """The target under test, loaded once per run; a target that cannot be loaded is a usage error."""
    if _TARGET not in config.stash:
        import torch

        from .targets import load

        torch.set_num_threads(1)  # tiny cases: threads only add overhead and oversubscribe xdist workers
        spec = option(config, "target")
        try:
            config.stash[_TARGET] = load(spec, base=str(config.invocation_params.dir))
        except Exception as exc:
            raise pytest.UsageError(f"--target {spec}: cannot load it: {type(exc).__name__}: {exc}") from None
    return config.stash[_TARGET]


@pytest.fixture(scope="session")
def target(request):
    return load_target(request.config)


def _check_of(item):
    """``(check, case or error instance)`` of a conformance check item, else None."""
    check = TESTS.get(getattr(item, "originalname", ""))
    params = getattr(getattr(item, "callspec", None), "params", {})
    param = next((params[k] for k in ("case", "transform_case", "error_instance", "scale_case") if k in params), None)
    return (check, param) if check and param is not None and _ours(item) else None


def _checks_in_order(items):
    return [pair for pair in map(_check_of, items) if pair is not None]


def _shard(config, items):
    """Deselect the items outside ``--shard K/N`` (conformance/shards.py); the suite's other tests
    (properties, modules, legacy arguments) go by the CRC-32 of their node id."""
    from .shards import keep

    k, n = option(config, "shard")
    checks = [(item, _check_of(item)) for item in items]
    graded = [pair for _, pair in checks if pair is not None]
    kept_checks = iter(keep(graded, (k, n)))
    kept, dropped = [], []
    for item, pair in checks:
        if pair is not None:
            mine = next(kept_checks)
        else:
            mine = not _ours(item) or zlib.crc32(item.nodeid.split("::", 1)[-1].encode()) % n == k - 1
        (kept if mine else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def checker(request, target):
    """Runs one check of the conformance tests: in a worker process holding the target
    (``--isolation process``, the default) or in this process."""
    from .isolation import InProcess, Isolated

    config = request.config
    if option(config, "isolation") == "none":
        runner = InProcess(target)
    else:
        runner = config.stash.get(EARLY_WORKER, None)
        if runner is None:
            runner = Isolated(option(config, "target"), str(config.invocation_params.dir), case_timeout(config))
        else:
            del config.stash[EARLY_WORKER]
        if not hasattr(config, "workerinput"):  # an xdist worker learns its tests one at a time
            runner.expect(_checks_in_order(request.session.items))
    yield runner
    runner.close()


# --- the report: each test report carries its cell (conformance/report/) ---------------------
# On the process that runs the test, so that the tally is the same with and without pytest-xdist,
# whose workers send their reports to the controller.


def _family(case):
    if case.values != "normal":
        return f"values={case.values}"
    if case.options:
        name, value = case.options[0]
        return f"{name}={value!r}"
    return "defaults"


def describe_item(item):
    """``{function, dtype, device, check, family, id}`` of a conformance test item, else None."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    check = getattr(item, "originalname", "").removeprefix("test_").removeprefix("scale_")
    if check not in report_model.CHECKS:
        return None
    cases = [params[k] for k in ("case", "transform_case", "scale_case") if k in params]
    if cases:  # the scale profile's checks count as forward and backward
        case = cases[0]
        family = f"profile={case.profile}" if "scale_case" in params else _family(case)
        return {"function": case.function, "dtype": case.dtype, "device": case.device, "check": check,
                "family": family, "id": case.id}
    if "error_instance" in params:
        instance = params["error_instance"]
        return {"function": instance.function, "dtype": report_model.ERROR_DTYPE, "device": instance.device,
                "check": check, "family": "errors", "id": instance.id}
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    info = describe_item(item)
    if info is not None:
        # A plain attribute of str values: xdist serialises the report's __dict__ to the controller.
        setattr(report, report_model.REPORT_ATTRIBUTE, info)
    return report
