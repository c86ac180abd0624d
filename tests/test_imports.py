"""The package's imports run one way: each module imports only modules below it in LAYERS (so
there is no cycle, even through an import inside a function), and no module takes another
module's private (underscore) name. A new module gets its place in LAYERS."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "conformance"

# Bottom to top. A module may import the modules of the layers before its own, and none of its own
# layer or above. Packages are listed by their __init__; "pkg.*" stands for every module in pkg.
LAYERS = [
    # the core: the test domain, knowing nothing of targets
    ["dtypes"], ["compare"], ["domains"], ["layouts"], ["sizes"], ["specs"], ["registry"], ["specs.*"],
    ["options", "publish"], ["ids"], ["cases"], ["shards"],
    ["known_divergences", "known_divergences.predicates"], ["divergences"],
    # talking to a target
    ["tensors"], ["adapters"], ["targets"],
    # the checks
    ["guard", "reproducers"], ["harness"], ["scale", "modules", "transforms"], ["checks"],
    ["properties.strategies"], ["properties.relations"], ["properties"],
    # running and reporting
    ["report.model"], ["report.tally", "report.render"], ["report"],
    ["isolation"], ["baseline", "export", "specdoc", "merge"],
    ["bindings._shared"], ["bindings._jax"], ["bindings.*"], ["bindings"], ["bindings.__main__"],
    ["torch_targets"], ["torch_targets.*"],
    ["matrix"], ["plugin"], ["__main__"],
    ["test_conformance", "test_determinism", "test_legacy", "test_modules", "test_properties"],
]


def _name(path):
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "__init__"


def _rank(name):
    for rank, layer in enumerate(LAYERS):
        for entry in layer:
            if entry == name or (entry.endswith(".*") and name.rsplit(".", 1)[0] == entry[:-2] and "." in name
                                 and name not in (e for lay in LAYERS for e in lay)):
                return rank
    return None


def _modules():
    return {_name(p): p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}


def _imports(name, path):
    """``(imported module, names taken from it)`` of every import of the package in ``path``,
    at any depth (imports inside functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    modules = _modules()
    tree = ast.parse(path.read_text())
    aliases = {}  # a name bound to a module of the package -> that module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = [p for p in package.split(".") if p and p != "__init__"]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "conformance":
                target = node.module.partition(".")[2]
            else:
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}" if target else alias.name
                if submodule in modules:
                    aliases[alias.asname or alias.name] = submodule
                    yield submodule, ()
                else:
                    yield target or "__init__", (alias.name,)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "conformance" and "." in alias.name:
                    yield alias.name.partition(".")[2], ()
    for node in ast.walk(tree):  # module.name: a name taken by attribute
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            yield aliases[node.value.id], (node.attr,)


def test_every_module_has_a_layer():
    assert [n for n in _modules() if n != "__init__" and _rank(n) is None] == []


@pytest.mark.parametrize("name", sorted(_modules()))
def test_imports_point_down_and_take_no_private_name(name):
    path = _modules()[name]
    if name == "__init__":
        pytest.skip("the package's __init__ imports nothing of its own")
    rank = _rank(name)
    upward, private = [], []
    for target, names in _imports(name, path):
        if target == name:
            continue
        target_rank = _rank(target)
        if target_rank is None or target_rank >= rank:
            upward.append(f"{target} (layer {target_rank}, this module's {rank})")
        private += [f"{target}.{n}" for n in names if n.startswith("_") and not n.endswith("__")]
    assert upward == [], f"{name} imports at or above its own layer"
    assert private == [], f"{name} takes private names of other modules"


def test_the_rules_see_an_upward_import_and_a_private_name(tmp_path):
    """The test's own power: a module of the guard's layer that imports the harness (above it,
    and a private name of it) and the plugin, inside a function."""
    planted = tmp_path / "guard.py"
    planted.write_text("from . import cases\nfrom .harness import _arguments\n\ndef f():\n"
                       "    from .plugin import option\n    return cases._BY_ID\n")
    found = list(_imports("guard", planted))
    assert found == [("cases", ()), ("harness", ("_arguments",)), ("plugin", ("option",)), ("cases", ("_BY_ID",))]
    assert _rank("harness") > _rank("guard") and _rank("plugin") > _rank("guard")
