"""The pytest plugin as other projects meet it: lazy selection that keeps exactly what full
collection keeps, exact --function, options that coexist with a project's own, the spelling of
--target, a target that cannot be loaded, and rerun lines that work from another directory."""

import os
import subprocess
import sys
import textwrap

import pytest

from conformance.registry import REGISTRY
from tests.cli import clean_environment

HERE = os.path.dirname(os.path.abspath(__file__))
PORTS = os.path.join(HERE, "ports")
DTYPES = "--conformance-dtype=bfloat16"  # a smaller grid: selection does not depend on dtype
EXPRESSIONS = (
    "mse_loss", "not mse_loss", "MSE_LOSS and backward", "nll_loss or (l1_loss and not smooth)", "xfail",
    "not xfail and cross_entropy and bfloat16", "test_error and softmax", "conformance and ctc_loss",
    "reduction and not sum", "test_conformance and weight and forward", "parametrize", "nonfinite",
)


class _Collected:
    """Collects the node ids of a run (after selection) and, for a full run, what each ``-k``
    expression selects according to pytest's own matcher on the real items."""

    def __init__(self, expressions=()):
        self.expressions, self.ids, self.selected = expressions, [], {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        from _pytest.mark import KeywordMatcher
        from _pytest.mark.expression import Expression

        for text in self.expressions:
            expression = Expression.compile(text)
            self.selected[text] = {i.nodeid for i in items if expression.evaluate(KeywordMatcher.from_item(i))}

    def pytest_collection_finish(self, session):
        self.ids = [item.nodeid for item in session.items]


MODULE = os.path.join(os.path.dirname(HERE), "conformance", "test_conformance.py")


def _collect(*args, paths=(MODULE,)):
    collected = _Collected()
    code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", DTYPES, *paths, *args], plugins=[collected])
    return code, collected.ids


@pytest.fixture(scope="module")
def full(request):
    collected = _Collected(EXPRESSIONS)
    code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", DTYPES, "--conformance-collect-all", MODULE],
                       plugins=[collected])
    assert code == 0
    return collected


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_lazy_selection_keeps_what_full_collection_keeps(full, expression, capsys):
    code, ids = _collect("-k", expression)
    capsys.readouterr()
    assert set(ids) == full.selected[expression]
    assert len(ids) == len(set(ids))
    assert code == (0 if ids else 5)


def test_lazy_selection_by_pasted_node_ids(full, capsys):
    picked = [full.ids[0], full.ids[len(full.ids) // 2], full.ids[-1]]
    root = os.path.dirname(HERE)  # node ids are relative to the checkout, the rootdir
    code, ids = _collect(paths=[os.path.join(root, p) for p in picked])
    capsys.readouterr()
    assert code == 0 and sorted(ids) == sorted(picked)


@pytest.mark.parametrize("functions", ["nll_loss", "softmax", "l1_loss,soft_margin_loss"])
def test_function_selects_exactly(full, functions, capsys):
    code, ids = _collect(f"--conformance-function={functions}")
    capsys.readouterr()
    names = functions.split(",")
    expected = {i for i in full.ids if i.split("[", 1)[1].split("(", 1)[0] in names}
    assert code == 0 and set(ids) == expected and ids


def test_an_unknown_function_is_a_usage_error_listing_the_known_ones(capsys):
    code, _ = _collect("--conformance-function=nll_los")
    err = capsys.readouterr().err
    assert code == pytest.ExitCode.USAGE_ERROR
    assert "'nll_los'" in err and all(name in err for name in REGISTRY)


def _run(args, cwd, **kwargs):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          env=clean_environment(), timeout=300, **kwargs)


@pytest.mark.slow
def test_a_project_with_its_own_device_option_still_runs(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "conftest.py").write_text(textwrap.dedent("""
        def pytest_addoption(parser):
            parser.addoption("--device", default="tpu")
            parser.addoption("--target", default="mine")
    """))
    (project / "test_own.py").write_text(textwrap.dedent("""
        import pytest

        @pytest.fixture
        def case():
            return "the project's own fixture"

        def test_own_options(request, case):
            assert request.config.getoption("--device") == "gpu9"
            assert request.config.getoption("--target") == "mine"
            assert case == "the project's own fixture"
    """))
    own = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "--device", "gpu9"], project)
    assert own.returncode == 0, own.stdout + own.stderr
    assert "1 passed" in own.stdout
    suite = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "conformance.test_conformance",
                  "--conformance-function=mse_loss", "--conformance-dtype=float64", "--device", "gpu9"], project)
    assert suite.returncode == 0, suite.stdout + suite.stderr
    assert "156 passed" in suite.stdout.splitlines()[-1] or "passed" in suite.stdout.splitlines()[-1]


def test_target_with_a_space_outside_the_rootdir_says_what_to_type(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    port = tmp_path / "elsewhere" / "port.py"
    port.write_text("from torch.nn.functional import mse_loss  # noqa: F401\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = \"-q\"\n")
    spaced = _run(["-m", "pytest", "--pyargs", "conformance.test_conformance", "--target", "../elsewhere/port.py",
                   "--function", "mse_loss", "--co"], project)
    assert spaced.returncode == pytest.ExitCode.USAGE_ERROR, spaced.stdout + spaced.stderr
    assert "write --target=../elsewhere/port.py" in spaced.stderr
    joined = _run(["-m", "pytest", "--pyargs", "conformance.test_conformance", "--target=../elsewhere/port.py",
                   "--function", "mse_loss", "--co", "-p", "no:cacheprovider"], project)
    assert joined.returncode == 0, joined.stdout + joined.stderr


@pytest.mark.parametrize("make, expected", [
    (lambda d: "missing.py", "FileNotFoundError"),
    (lambda d: (d / "adir").mkdir() or "adir", "is not a .py file"),
    (lambda d: (d / "broken.py").write_text("def f(:\n") and "broken.py", "SyntaxError"),
    (lambda d: (d / "imports.py").write_text("import no_such_module_here\n") and "imports.py", "ModuleNotFoundError"),
    (lambda d: "no_such_package.losses", "ModuleNotFoundError"),
])
def test_a_target_that_cannot_be_loaded_is_one_usage_error(tmp_path, monkeypatch, capsys, make, expected):
    spec = make(tmp_path)
    monkeypatch.chdir(tmp_path)  # in this process: the error comes before collection, as in a run of its own
    code = pytest.main(["-q", "-p", "no:cacheprovider", "--pyargs", "conformance.test_conformance",
                        f"--conformance-target={spec}", "--conformance-function=mse_loss"])
    out, err = capsys.readouterr()
    assert code == pytest.ExitCode.USAGE_ERROR, out + err
    assert f"--target {spec}: cannot load it: " in err and expected in err
    assert err.count("cannot load it") == 1 and "passed" not in out


@pytest.mark.slow
def test_rerun_line_reruns_the_failure_from_another_directory(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    first = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "conformance.test_conformance",
                  f"--target={os.path.join(PORTS, 'planted_mse_loss.py')}", "--function=mse_loss",
                  "--conformance-dtype=float64", "-x"], run)
    assert first.returncode == 1
    rerun = next(line.split("rerun: ", 1)[1] for line in first.stdout.splitlines() if "rerun: pytest" in line)
    other = tmp_path / "other"
    other.mkdir()
    again = _run(["-c", "import shlex, sys, pytest; sys.exit(pytest.main(shlex.split(sys.argv[1])[1:] + "
                  "['-p', 'no:cacheprovider']))", rerun], other)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "1 failed" in again.stdout.splitlines()[-1]


def test_a_specs_module_imports_on_its_own():
    result = _run(["-c", "import conformance.specs.binary as b; print(len(b.SPECS))"], HERE)
    assert result.returncode == 0, result.stderr
