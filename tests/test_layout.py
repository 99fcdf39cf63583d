"""The layout: no import cycle between modules (function-body imports included), subsystems one way."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "derive"
# Each subpackage may use the ones before it, never one after (the data flow of the design notes).
ORDER = ("symbolic", "engine", "certify", "experiments", "sheet", "grade", "variants")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _type_checking(node) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(path: Path, known) -> set[str]:
    """The derive modules a file imports anywhere in its body (not under ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for block in ast.walk(tree) if _type_checking(block) for n in ast.walk(block)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("derive"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in known else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
    return out


def _graph():
    known = _modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_module_imports_itself_back():
    assert cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_subsystems_depend_one_way():
    wrong = []
    for name, used in _graph().items():
        parts = name.split(".")
        if len(parts) < 3 or parts[1] not in ORDER:
            continue
        mine = ORDER.index(parts[1])
        for target in used:
            sub = target.split(".")[1] if target.count(".") else ""
            if sub in ORDER and ORDER.index(sub) > mine:
                wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_the_package_top_is_small():
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert len(top) <= 10, top


def test_the_library_imports_without_the_command_line_or_the_templates():
    import subprocess
    import sys

    code = ("import sys, derive, derive.spec, derive.count, derive.prose, derive.sheet.units; "
            "print(sorted(m for m in ('click', 'jinja2', 'numpy', 'sympy', 'pypandoc') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_the_wheel_carries_the_content_and_builds_the_sheet_outside_the_checkout(tmp_path):
    """A non-editable install (the wheel unpacked on its own) finds answers/ and templates/ in the package."""
    import shutil
    import subprocess
    import sys

    root = PACKAGE.parent
    source = shutil.copytree(root, tmp_path / "source", ignore=shutil.ignore_patterns(
        ".*", "build", "docs", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "wheel"), str(source)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "wheel").glob("derive-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(tmp_path / "site"),
                    str(wheel)], check=True, capture_output=True)
    site = tmp_path / "site" / "derive"
    assert (site / "answers" / "ex1_q1" / "answer.py").is_file() and (site / "templates" / "sheet.typ.j2").is_file()
    work = tmp_path / "elsewhere"
    shutil.copytree(root / "docs" / "evidence", work / "store")
    done = subprocess.run([sys.executable, "-m", "derive", "sheet", "--lang", "en", "--format", "md", "--out", "out",
                           "--cache", "store"], cwd=work, capture_output=True, text=True,
                          env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert (work / "out" / "corrige.en.md").read_bytes() == (root / "docs" / "corrige.en.md").read_bytes()
