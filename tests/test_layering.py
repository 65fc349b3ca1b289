"""The package's layers import only downward, with no circle, from the import graph itself.

Every ``import``/``from ... import`` of a ``dynaq_jax`` module counts, at module level or inside a
function. Layers, bottom to top (DESIGN: numerics and random numbers -> the pure core -> envs ->
loops -> io and plotting -> the application):
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dynaq_jax"

LAYERS: list[tuple[str, ...]] = [
    ("dynaq_jax.types", "dynaq_jax.numerics", "dynaq_jax.registry", "dynaq_jax.checks"),
    ("dynaq_jax.version",),
    ("dynaq_jax.rng",),
    ("dynaq_jax.config",),
    ("dynaq_jax.state", "dynaq_jax.backups", "dynaq_jax.models"),
    ("dynaq_jax.exploration", "dynaq_jax.planners"),
    ("dynaq_jax.agent",),
    ("dynaq_jax.envs",),
    ("dynaq_jax.progress", "dynaq_jax.run_args", "dynaq_jax.distributed"),
    (
        "dynaq_jax.train",
        "dynaq_jax.lanes",
        "dynaq_jax.seed_step",
        "dynaq_jax.gym_loop",
        "dynaq_jax.host_call",
    ),
    ("dynaq_jax.file_layout",),
    ("dynaq_jax.io", "dynaq_jax.plotting", "dynaq_jax.testing"),
    (
        "dynaq_jax.experiments",
        "dynaq_jax.experiments.example84",
        "dynaq_jax.experiments.expected_vs_sample",
        "dynaq_jax.experiments.explore",
        "dynaq_jax.experiments.scaling",
        "dynaq_jax.experiments.trajectory_sampling",
        "dynaq_jax.experiments.trajectory_sampling_report",
    ),
    ("dynaq_jax", "dynaq_jax.__main__"),
]
"""Each module belongs to the layer of the longest prefix that names it."""

MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(name: str) -> int:
    best, best_len = -1, -1
    for i, members in enumerate(LAYERS):
        for prefix in members:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    assert best >= 0, f"{name} is in no layer: add it to LAYERS"
    return best


def imports(name: str, path: Path) -> Iterator[tuple[str, list[str], int]]:
    """``(imported module, names taken, line)`` for every dynaq_jax import in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    known = modules()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("dynaq_jax"):
                    yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if not target.startswith("dynaq_jax"):
                continue
            names = [a.name for a in node.names]
            # ``from dynaq_jax import envs`` imports the submodule dynaq_jax.envs
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in known]
            for sub in subs:
                yield sub, [], node.lineno
            rest = [n for n in names if f"{target}.{n}" not in known]
            if rest or not subs:
                yield target, rest, node.lineno


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {m: set() for m in known}
    for name, path in known.items():
        for target, _, _ in imports(name, path):
            edges[name].add(target)
    return edges


def test_every_module_is_in_a_layer() -> None:
    for name in modules():
        layer(name)


def test_imports_go_downward_only() -> None:
    upward = []
    for name, path in modules().items():
        for target, _, line in imports(name, path):
            if target == name or target.startswith(name + "."):
                continue  # a package importing its own submodules
            if layer(target) > layer(name):
                upward.append(f"{path.relative_to(ROOT)}:{line}: {name} imports {target}")
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def test_no_import_circles() -> None:
    edges = graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in edges:
                continue
            if nxt.startswith(node + "."):
                continue  # a package and its own submodules
            if state.get(nxt) == 1:
                circles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not circles, f"import circles: {circles}"


def test_application_is_imported_by_nothing_below_it() -> None:
    offenders = [
        name
        for name, targets in graph().items()
        if any(t.startswith("dynaq_jax.experiments") for t in targets)
        and not name.startswith("dynaq_jax.experiments")
        and name not in ("dynaq_jax.__main__",)
    ]
    assert not offenders, f"modules below the application import it: {offenders}"


def test_no_private_names_across_modules() -> None:
    found = []
    for name, path in modules().items():
        for target, names, line in imports(name, path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and target != name:
                found.append(f"{path.relative_to(ROOT)}:{line}: {private} from {target}")
    assert not found, "private names imported across modules:\n" + "\n".join(found)


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_size(name: str) -> None:
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines (at most {MAX_LINES})"
