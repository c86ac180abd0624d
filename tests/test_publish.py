"""Published files are replaced in one step: a write that fails half-way leaves the old file whole
and no temporary file behind; a new file gets the permissions open() would give it."""

import os
import stat

import pytest

from conformance import publish


def test_a_failed_write_leaves_the_old_file_whole(tmp_path):
    path = tmp_path / "matrix.json"
    path.write_text("the published matrix\n")
    with pytest.raises(RuntimeError), publish.replacing(str(path)) as f:
        f.write("half of a new")
        raise RuntimeError("interrupted")
    assert path.read_text() == "the published matrix\n"
    assert os.listdir(tmp_path) == ["matrix.json"]


def test_a_write_replaces_the_file_and_creates_its_directory(tmp_path):
    path = tmp_path / "new" / "dir" / "SPEC.md"
    publish.write_text(str(path), "text\n")
    assert path.read_text() == "text\n"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_an_interrupt_while_writing_keeps_the_old_report(tmp_path, monkeypatch):
    """The report's writer goes through publish: Ctrl-C in the middle of a rendering keeps the old page."""
    from conformance.report import render

    (tmp_path / "conformance.md").write_text("old\n")

    def interrupted(report, json_name="conformance.json"):
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "to_markdown", interrupted)
    with pytest.raises(KeyboardInterrupt):
        render.write({"schema": 3}, str(tmp_path), str(tmp_path / "conformance.json"))
    assert (tmp_path / "conformance.md").read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) in (["conformance.json", "conformance.md"], ["conformance.md"])
