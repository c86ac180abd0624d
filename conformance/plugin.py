"""pytest plugin: the ``--target``, ``--device`` and ``--dtype`` options, case
parametrization and the known-divergence xfails. Loaded by the root ``conftest.py``
and by ``python -m conformance``."""

import os
import warnings

import pytest

from .dtypes import FLOAT_DTYPES

DEVICES = {"cpu": ("cpu",), "cuda": ("cuda",), "all": ("cpu", "cuda")}
TESTS = {"test_forward": "forward", "test_backward": "backward", "test_error": "error"}


def pytest_addoption(parser):
    group = parser.getgroup("conformance", "loss conformance suite")
    group.addoption("--target", default=os.environ.get("CONFORMANCE_TARGET", "torch.nn.functional"),
                    help="module name or .py file implementing torch.nn.functional's losses "
                         "(default: torch.nn.functional; env CONFORMANCE_TARGET)")
    group.addoption("--device", default=os.environ.get("CONFORMANCE_DEVICE", "cpu"), choices=sorted(DEVICES),
                    help="device to run the cases on: cpu (default), cuda or all; env CONFORMANCE_DEVICE")
    group.addoption("--dtype", default=os.environ.get("CONFORMANCE_DTYPE", "all"),
                    help="comma-separated dtypes (float64,float32,float16,bfloat16) or 'all'; env CONFORMANCE_DTYPE")


def selected_dtypes(config):
    value = config.getoption("--dtype")
    if value == "all":
        return FLOAT_DTYPES
    dtypes = tuple(d.strip() for d in value.split(","))
    unknown = set(dtypes) - set(FLOAT_DTYPES)
    if unknown:
        raise pytest.UsageError(f"--dtype: unknown {sorted(unknown)}; choose from {', '.join(FLOAT_DTYPES)}")
    return dtypes


def selected_devices(config):
    return DEVICES[config.getoption("--device")]


@pytest.fixture(scope="session")
def target(request):
    import torch

    from .targets import TorchTarget

    torch.set_num_threads(1)  # tiny cases: threads only add overhead and oversubscribe xdist workers
    return TorchTarget.load(request.config.getoption("--target"))


def _parametrized_by_test(metafunc, name):
    return any(name in marker.args[0] for marker in metafunc.definition.iter_markers("parametrize"))


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames and not _parametrized_by_test(metafunc, "case"):
        from .cases import all_cases

        cases = all_cases(dtypes=selected_dtypes(metafunc.config), devices=selected_devices(metafunc.config))
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])
    if "error_instance" in metafunc.fixturenames:
        from .harness import ErrorInstance
        from .registry import REGISTRY

        instances = [ErrorInstance(name, i, device) for device in selected_devices(metafunc.config)
                     for name, spec in REGISTRY.items() for i in range(len(spec.errors))]
        metafunc.parametrize("error_instance", instances, ids=[e.id for e in instances])


def _case_id(item):
    params = getattr(getattr(item, "callspec", None), "params", {})
    for key in ("case", "error_instance"):
        if key in params:
            return params[key].id
    return None


def pytest_collection_modifyitems(config, items):
    from .divergences import load

    if config.getoption("--target") != "torch.nn.functional":
        return  # torch's divergences say nothing about another implementation
    divergences = load()
    used, functions = set(), set()
    for item in items:
        test, case_id = TESTS.get(getattr(item, "originalname", "")), _case_id(item)
        if not test or case_id is None:
            continue
        functions.add(case_id.split("(", 1)[0])
        for divergence in divergences:
            if divergence.applies(test, case_id):
                item.add_marker(pytest.mark.xfail(strict=divergence.strict, reason=divergence.explanation))
                used.add(divergence)
    restricted = (config.getoption("--dtype") != "all" or config.getoption("keyword") or config.getoption("markexpr")
                  or any("::" in str(arg) for arg in config.args))  # tests selected by node id
    for divergence in divergences:
        if divergence not in used and divergence.function in functions and not restricted:
            warnings.warn(pytest.PytestWarning(
                f"known_divergences: the entry for {divergence.function} matching "
                f"{divergence.pattern!r} matches no {'/'.join(divergence.tests)} test: is it stale?"), stacklevel=1)
