"""The package's structure: imports run one way (no cycle, at module level or inside a function),
and attrlab is extended the way pytest is — a separately installed package's entry points add an
environment and a method that `attrlab list` shows and `attrlab run` runs."""
import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "attrlab"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """Module → the attrlab modules it imports anywhere in its file (in functions too)."""
    mods = _modules()
    graph = {}
    for mod, path in mods.items():
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                name = ".".join(base + ([node.module] if node.module else [])) if node.level else (node.module or "")
                for alias in node.names:
                    full = f"{name}.{alias.name}"
                    found.add(full if full in mods else name)
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
        graph[mod] = {m for m in found if m in mods and m != mod}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_imports_form_no_cycle_even_inside_functions():
    cycle = _cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_an_installed_plugin_package_adds_an_environment_and_a_method(tmp_path):
    # installed into a folder of its own on the path (as `pip install` would into the venv, which
    # stays unchanged for the other tests): entry points are found through importlib.metadata
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(target), str(ROOT / "examples" / "attrlab-toy-plugin")], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    cli = [sys.executable, "-m", "attrlab.cli"]

    def attrlab(*args):
        done = subprocess.run(cli + list(args), env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "toy-line" in attrlab("list", "environments").split()
    assert "toy_input_x_weight" in attrlab("list", "methods").split()
    out = attrlab("run", "toy-line", "--methods", "toy_input_x_weight,gradient", "--no-progress",
                  "--out", str(tmp_path / "run"))
    assert "toy_input_x_weight" in out and (tmp_path / "run" / "report.html").exists()
    # without the plug-in on the path, attrlab knows neither
    bare = subprocess.run(cli + ["list", "environments"], capture_output=True, text=True, timeout=300)
    assert "toy-line" not in bare.stdout.split()


def test_the_command_lines_first_screen_imports_no_build():
    """`attrlab --help`, `attrlab list environments -v` read the environments' declarations only:
    torch (seconds to import) stays out (benchmarks/bench_cli_startup.py times it)."""
    probe = ("import sys, contextlib, io\n"
             "from attrlab.cli import main\n"
             "for argv in (['--help'], ['run', '--help'], ['list', 'environments', '-v']):\n"
             "    with contextlib.redirect_stdout(io.StringIO()):\n"
             "        try:\n"
             "            main(argv)\n"
             "        except SystemExit:\n"
             "            pass\n"
             "heavy = sorted(m for m in ('torch', 'captum', 'matplotlib', 'pandas') if m in sys.modules)\n"
             "print(','.join(heavy))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the first screen imported {out.stdout.strip()}"


def test_declared_choices_equal_what_the_builds_accept():
    """The light declarations repeat four tuples of the heavy modules (so that they need no torch):
    they must stay equal."""
    from attrlab.data import textbox
    from attrlab.environments import semi_natural_image_spec, smerf_spec, text_rationale_spec
    from attrlab.models import classifiers, rationale

    assert smerf_spec.BACKGROUNDS == textbox.BACKGROUNDS
    assert semi_natural_image_spec.CLASSIFIERS == classifiers.MODELS
    assert (text_rationale_spec.KINDS, text_rationale_spec.SEL_COSTS) == (rationale.KINDS, rationale.SEL_COSTS)
