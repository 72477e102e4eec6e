"""The package's shape: rooms in data-flow order, no cycles, small modules, one module per app.

Rooms, lowest first. A module may import its own room and rooms BELOW it, never above:
    core -> tflite -> data -> model -> apps -> optimize -> analyze -> deploy -> notebook -> cli
(``tflite`` is the foundation every stage asks about a .tflite file; the CNN template and
training loop know no app, so ``model`` sits below ``apps``, whose recipes name a model;
the commands are the top floor.)
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tinyml_utils import apps
from tinyml_utils.apps.base import App

PACKAGE = Path(__file__).resolve().parents[1] / "tinyml_utils"
ROOMS = [
    "core",
    "tflite",
    "data",
    "model",
    "apps",
    "optimize",
    "analyze",
    "deploy",
    "notebook",
    "cli",
]
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path, known: set[str]) -> set[str]:
    """Package modules imported anywhere in ``path`` (module level or inside functions)."""
    found = set()
    tree = ast.parse(path.read_text())
    typing_only = {
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test).endswith("TYPE_CHECKING")
        for stmt in block.body
        for n in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("tinyml_utils")}


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS else None


def test_every_module_lives_in_a_room():
    loose = [m for m in _modules() if m != "tinyml_utils" and _room(m) is None]
    assert not loose, f"modules outside the rooms {ROOMS}: {loose}"


def test_imports_point_down_the_data_flow():
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        room = _room(name)
        if room is None:
            continue
        for dep in _imports(path, set(modules)):
            dep_room = _room(dep)
            if dep_room and ROOMS.index(dep_room) > ROOMS.index(room):
                wrong.append(f"{name} imports {dep} ({room} may not import {dep_room})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    modules = _modules()
    graph = {n: {d for d in _imports(p, set(modules)) if d in modules} for n, p in modules.items()}

    def package_of(m: str) -> str:
        return m.rsplit(".", 1)[0]

    # a package's __init__ importing its own submodules is not a cycle with them
    for n in graph:
        graph[n] = {
            d for d in graph[n] if not (d == package_of(n) and modules[d].name == "__init__.py")
        }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for d in sorted(graph[n]):
            if state.get(d) == 1:
                cycle = stack[stack.index(d) :] + [d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)


def test_no_module_over_the_size_limit():
    big = {
        str(p.relative_to(PACKAGE.parent)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not big, f"modules over {MAX_LINES} lines (split them): {big}"


def test_every_command_is_one_cli_module():
    from tinyml_utils.cli import COMMANDS, command_module

    for name in COMMANDS:
        module = command_module(name)
        assert module.__name__.startswith("tinyml_utils.cli.")
        assert module.HELP and callable(module.add_arguments) and callable(module.run)
    outside = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if "def add_arguments(" in p.read_text() and p.parent.name != "cli"
    ]
    assert not outside, f"command code outside cli/: {outside}"


def test_every_app_is_one_module():
    for name in apps.APPS:
        app = apps.get_app(name)
        assert isinstance(app, App) and app.name == name
        assert type(app).__module__ == f"tinyml_utils.apps.{name}"
    # no other module switches on an app's name
    switching = []
    for p in PACKAGE.rglob("*.py"):
        if p.parent.name == "apps" and p.stem in apps.APPS:
            continue
        text = p.read_text()
        for name in apps.APPS:
            if f'app == "{name}"' in text or f"app == '{name}'" in text:
                switching.append(f"{p.relative_to(PACKAGE)}: app == {name!r}")
    assert not switching, "app knowledge outside its module:\n" + "\n".join(switching)


def test_a_fifth_app_needs_only_its_module_and_the_registry(monkeypatch, tmp_path):
    """A toy app registered at run time works end to end through the shared recipe."""
    import sys
    import types

    import numpy as np

    from tinyml_utils.apps import registry
    from tinyml_utils.data.datasets.base import Dataset

    class Toy(App):
        name = "toy"
        dataset = "toy"
        defaults = {"test_size": 0.25, "val_size": 0.25}
        default_shape = ((8, 1), 2)

        def compute_features(self, ds, params, per_example):
            return np.asarray(ds.x, np.float32), ds.y, ds.groups, per_example

        def spec_options(self, input_shape):
            return dict(conv_filters=(), pools=1, dense_units=(4,))

    module = types.ModuleType("tinyml_utils.apps.toy")
    module.APP = Toy()
    monkeypatch.setitem(sys.modules, "tinyml_utils.apps.toy", module)
    monkeypatch.setattr(registry, "MODULES", (*registry.MODULES, "toy"))
    registry.get_app.cache_clear()
    rng = np.random.default_rng(0)
    y = np.arange(64) % 2
    ds = Dataset(
        "toy",
        rng.normal(size=(64, 8, 1)) + y[:, None, None],
        y,
        np.arange(64) // 4,
        ["a", "b"],
        "synthetic",
    )

    from tinyml_utils.data import datasets

    monkeypatch.setattr(datasets, "load", lambda name, **kw: ds)
    try:
        data = apps.prepare("toy")
        assert data.x_train.shape[1:] == (8, 1) and data.num_classes == 2
        assert not set(data.groups_train) & set(data.groups_test)
        spec = apps.default_spec("toy", data)
        assert spec.input_shape == (8, 1) and spec.dense_units == (4,)
    finally:
        registry.get_app.cache_clear()


def test_progress_bars_come_from_core_progress():
    """``tqdm.auto`` saves a frozen "0%" widget in headlessly executed notebooks;
    ``core.progress.tqdm`` draws the text bar there. Nothing else imports tqdm directly."""
    direct = re.compile(r"^\s*(from tqdm(\.\w+)? import|import tqdm)", re.M)
    offenders = [
        str(p.relative_to(PACKAGE.parent))
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.name != "progress.py" and direct.search(p.read_text())
    ]
    assert not offenders, f"use tinyml_utils.core.progress.tqdm in: {offenders}"
