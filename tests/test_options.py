"""The suite's options are declared once (conformance/options.py): every environment variable
works through ``python -m conformance`` and through the pytest plugin alike, and a bad value of any
option, in any command, is one line naming it and exit 4 before anything runs."""

import os

import pytest

from conformance import __main__ as cli
from conformance import options, plugin

# A valid value other than the default, per option.
OTHER = {"target": "tests/ports/faithful_mse_loss.py", "device": "cpu,meta", "dtype": "float16",
         "function": "mse_loss", "case-timeout": "7.5", "profile": "scale-smoke", "isolation": "none"}


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
def test_the_environment_variable_reaches_the_plugin_under_pytest(option, monkeypatch, capsys):
    monkeypatch.setenv(option.variable, OTHER[option.name])
    seen = {}

    class Spy:
        @pytest.hookimpl(trylast=True)
        def pytest_configure(self, config):
            seen["value"] = plugin.option(config, option.attribute)

    pytest.main(["--co", "-q", "-p", "no:cacheprovider", "--pyargs", "conformance.test_determinism"], plugins=[Spy()])
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
