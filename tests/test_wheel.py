"""The wheel holds every file the installed suite needs: each module and data file under
reference/ and conformance/ (a subpackage or a .toml left out of the wheel fails only outside the
checkout, where a user meets it first). .ci/run goes on to run the installed wheel."""

import pathlib
import shutil
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _source_files():
    """Every file of the two packages in the checkout, but caches and the readers' notes."""
    return {
        path.relative_to(ROOT).as_posix()
        for package in ("reference", "conformance")
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc", ".md"}
    }


def test_the_wheel_holds_every_module_and_data_file(tmp_path):
    # Built from a copy, as from a clean clone: a build/ left in the checkout would hand the wheel
    # files that the packaging rules leave out. With the installed setuptools (the tests extra),
    # so that no network is needed.
    source = tmp_path / "source"
    caches = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("reference", "conformance"):
        shutil.copytree(ROOT / name, source / name, ignore=caches)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith(("reference/", "conformance/"))}
    assert _source_files() - shipped == set()
    assert shipped - _source_files() == set()
