"""The suite's options are declared once (conformance/options.py): every environment variable
works through ``python -m conformance`` and through the pytest plugin alike, and a bad value of any
option, in any command, is one line naming it and exit 4 before anything runs."""

import os

import pytest

from conformance import __main__ as cli
from conformance import options, plugin

# A valid value other than the default, per option.
OTHER = {"target": "tests/ports/faithful_mse_loss.py", "device": "cpu,meta", "dtype": "float16",
         "function": "mse_loss", "check": "jvp,forward", "case-timeout": "7.5", "profile": "scale-smoke",
         "shard": "2/3", "isolation": "none"}


def test_every_option_has_another_value_here():
    assert set(OTHER) == {o.name for o in options.SUITE}
    assert all(OTHER[o.name] != o.default for o in options.SUITE)


@pytest.mark.parametrize("option", options.SUITE, ids=lambda o: o.name)
def test_the_environment_variable_reaches_the_plugin_through_python_m_conformance(option, monkeypatch):
    """``python -m conformance`` hands every option on to the plugin; before this table,
    CONFORMANCE_ISOLATION=none was dropped for --isolation process."""
    monkeypatch.setenv(option.variable, OTHER[option.name])
    args, extra, values = cli.parse_run([])
    assert values[option.name] == option.parse(OTHER[option.name])
    assert f"--conformance-{option.name}={OTHER[option.name]}" in cli.pytest_arguments(args)


@pytest.mark.parametrize("option", options.SUITE, ids=lambda o: o.name)
def test_the_environment_variable_reaches_the_plugin_under_pytest(option, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv(option.variable, OTHER[option.name])
    seen = {}

    class Spy:
        @pytest.hookimpl(trylast=True)
        def pytest_configure(self, config):
            seen["value"] = plugin.option(config, option.attribute)

    (tmp_path / "test_nothing.py").write_text("")
    pytest.main(["--co", "-q", "-p", "no:cacheprovider", str(tmp_path)], plugins=[Spy()])
    capsys.readouterr()
    assert seen["value"] == option.parse(OTHER[option.name])


def test_the_command_line_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("CONFORMANCE_ISOLATION", "none")
    args, _, values = cli.parse_run(["--isolation", "process"])
    assert values["isolation"] == "process" and "--conformance-isolation=process" in cli.pytest_arguments(args)


# --- bad input: one line, exit 4, nothing run or written ------------------------------------------

BAD = [  # (command line, what the one line must say)
    (["--profile", "nope"], "--profile 'nope': choose from default, scale, scale-smoke"),
    (["--case-timeout", "0"], "--case-timeout '0': must be more than 0"),
    (["--case-timeout", "-1"], "--case-timeout '-1': must be more than 0"),
    (["--case-timeout", "soon"], "--case-timeout 'soon': not a number"),
    (["--case-timeout", "nan"], "--case-timeout 'nan': not a finite number"),
    (["-n", "-1"], "-n '-1': must be at least 0"),
    (["-n", "two"], "-n 'two': not an integer"),
    (["--dtype", "bogus"], "--dtype 'bogus': unknown 'bogus'"),
    (["--dtype", ""], "--dtype '': no name given"),
    (["--function", "nll_los"], "--function 'nll_los': unknown function 'nll_los'"),
    (["--device", "quantum"], "--device 'quantum': 'quantum' is not a device torch knows"),
    (["--isolation", "thread"], "--isolation 'thread': choose from process, none"),
    (["--baseline", "missing.json"], "--baseline 'missing.json': no such file"),
    (["--baseline", "."], "--baseline '.': a directory, where a file is expected"),
    (["--baseline", "broken.json"], "--baseline 'broken.json': not valid JSON"),
    (["--report-dir", "afile"], "--report-dir 'afile': "),
    (["--json", "afile/x.json"], "--report-dir 'reports' / --json: "),
    (["--target"], "argument --target: expected one argument"),
    (["--check", "jvpp"], "--check 'jvpp': unknown 'jvpp'"),
    (["--shard", "4/3"], "--shard '4/3': not K/N with 1 <= K <= N"),
    (["--shard", "two"], "--shard 'two': not K/N"),
    (["merge", "missing.json", "--out", "m"], "missing.json: cannot read a JSON report"),
    (["merge", "list.json", "--out", "m"], "list.json: not a conformance report"),
    (["merge", "--out", "m"], "the following arguments are required: REPORT"),
    (["merge", "broken.json", "--out", "afile"], "--out: 'afile': a file, where a directory is expected"),
    (["export", "--out", "afile"], "cannot write to afile"),
    (["export", "--max-elements", "0"], "--max-elements: '0': must be at least 1"),
    (["export", "--per-function", "-3"], "--per-function: '-3': must be at least 1"),
    (["export", "--function", "nope"], "--function: unknown function 'nope'"),
    (["export", "--dtype", "float16"], "--dtype"),
    (["verify", "afile"], "argument DIR: 'afile': a file, where a directory is expected"),
    (["verify"], "the following arguments are required: DIR"),
    (["diff", "missing.json", "missing.json"], "missing.json: no such file"),
    (["diff", "broken.json", "broken.json"], "broken.json: not valid JSON"),
    (["diff", "list.json", "list.json"], "list.json: not a conformance report"),
    (["diff", "list.json"], "the following arguments are required: new"),
    (["targets", "--verbose"], "unrecognized arguments: --verbose"),
    (["matrix", "--budget", "-5", "--only", "torch"], "--budget: '-5': must be more than 0"),
    (["matrix", "--only", "torchh"], "--only: 'torchh': unknown 'torchh'"),
    (["matrix", "--out", "afile", "--only", "torch"], "--out: 'afile': a file, where a directory is expected"),
]


@pytest.mark.parametrize("argv, says", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_value_is_one_line_and_exit_4(argv, says, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("CONFORMANCE_")]:
        monkeypatch.delenv(name)
    (tmp_path / "afile").write_text("")
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "list.json").write_text("[1]")
    before = sorted(p.name for p in tmp_path.iterdir())
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == 4, out + err
    assert says in err and len(err.strip().splitlines()) == 1, err
    assert "passed" not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, no report directory


def test_the_plugin_judges_its_options_the_same_way(capsys, tmp_path):
    """``pytest --conformance-case-timeout=0`` (not through python -m conformance): one line, exit 4."""
    (tmp_path / "test_nothing.py").write_text("")
    code = pytest.main(["--co", "-q", "-p", "no:cacheprovider", str(tmp_path), "--conformance-case-timeout=0"])
    err = capsys.readouterr().err
    assert code == pytest.ExitCode.USAGE_ERROR
    assert "--case-timeout '0': must be more than 0" in err and len(err.strip().splitlines()) == 1, err


# --- fuzz: any value of any option is either taken (and then means what the help says) or is one line
# naming the option and exit 4; never a traceback, never argparse's exit 2 --------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NUMBERS = st.one_of(st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str),
                    st.text(max_size=8), st.sampled_from(["", "-0", "1e309", "0x10", " 3", "auto", "nan", "-inf"]))
FUZZED = [  # (command line before the value, flag, the values drawn, what a taken value must satisfy)
    ([], "--case-timeout", NUMBERS, lambda v: v > 0),
    ([], "-n", NUMBERS, lambda v: v in ("auto", "logical") or int(v) >= 0),
    ([], "--dtype", st.text(max_size=12), lambda v: True),
    ([], "--profile", st.text(max_size=12), lambda v: v in ("default", "scale", "scale-smoke")),
    (["export"], "--max-elements", NUMBERS, lambda v: v >= 1),
    (["export"], "--per-function", NUMBERS, lambda v: v >= 1),
    (["diff", "a.json", "b.json"], "--limit", NUMBERS, lambda v: v >= 0),
    (["matrix", "--only", "torch"], "--budget", NUMBERS, lambda v: v > 0),
]


@pytest.mark.parametrize("before, flag, values, valid", FUZZED, ids=[f"{' '.join(b)} {f}" for b, f, _, _ in FUZZED])
def test_fuzzed_values_are_taken_or_one_usage_line(before, flag, values, valid, tmp_path_factory):
    from conformance import baseline, export, matrix

    parsers = {"export": export.main, "diff": baseline.main, "matrix": matrix.matrix_main}

    @settings(max_examples=60, deadline=None)
    @given(value=values)
    def check(value):
        if before[:1] and before[0] in parsers:  # the subcommand's parser alone: stop right after parsing
            taken = _parsed(parsers[before[0]], [*before[1:], f"{flag}={value}"], flag)
        else:
            try:
                args, _, values_ = cli.parse_run([f"{flag}={value}"])
                taken = values_.get(flag[2:]) if flag != "-n" else args.workers
            except options.UsageError as exc:
                assert str(exc).startswith(f"{flag} ") and "\n" not in str(exc)
                return
        if taken is not _REJECTED:
            assert valid(taken), (flag, value, taken)

    check()


_REJECTED = object()


class _Parsed(Exception):
    pass


def _parsed(main, argv, flag):
    """The value ``main``'s parser takes for ``flag``, or _REJECTED after its one-line usage error."""
    import argparse
    import io
    from contextlib import redirect_stderr
    from unittest import mock

    seen = {}
    original = argparse.ArgumentParser.parse_known_args

    def stop(self, args=None, namespace=None):
        namespace, extra = original(self, args, namespace)
        seen["value"] = getattr(namespace, flag.lstrip("-").replace("-", "_"))
        raise _Parsed

    err = io.StringIO()
    with mock.patch.object(argparse.ArgumentParser, "parse_known_args", stop), redirect_stderr(err):
        try:
            main(argv)
        except _Parsed:
            return seen["value"]
        except SystemExit as exit_:
            lines = err.getvalue().strip().splitlines()
            assert exit_.code == 4 and len(lines) == 1 and flag in lines[0], err.getvalue()
            return _REJECTED
    raise AssertionError(f"{main.__module__} neither parsed nor rejected {argv}")
