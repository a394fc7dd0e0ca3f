"""The documentation: the README opens with the two commands, every documented ``attrlab`` command
line parses, and the docs build as a site."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
RUN_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/attrlab run"
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest"
FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```", re.M | re.S)


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block, in order."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def doc_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def bash_lines(path: Path) -> list[str]:
    """The command lines of a file's ```bash blocks (continuation lines joined)."""
    lines = []
    for lang, body in code_blocks(path.read_text(encoding="utf-8")):
        if lang not in ("bash", "sh", "shell", "console"):
            continue
        pending = ""
        for line in body.splitlines():
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            lines.append(pending + line)
            pending = ""
    return lines


def attrlab_argvs(line: str) -> list[list[str]]:
    """The argument lists of the ``attrlab`` commands on a shell line (comments stripped; each
    ``&&``/``;``/``|`` segment whose program is ``attrlab`` or ``…/attrlab``; ``VAR=value`` prefixes
    skipped). Lines that run other programs (pip, python, bash) give none."""
    words = shlex.split(line, comments=True)
    segments, current = [], []
    for word in words:
        if word in ("&&", "||", ";", "|"):
            segments.append(current)
            current = []
        else:
            current.append(word)
    segments.append(current)
    argvs = []
    for seg in segments:
        while seg and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", seg[0]):
            seg = seg[1:]
        if seg and os.path.basename(seg[0]) == "attrlab":
            argvs.append(seg[1:])
    return argvs


def documented_commands() -> list[tuple[str, str, list[str]]]:
    """(file, line, argv) of every attrlab command in the README's and docs/' bash blocks."""
    found = []
    for path in doc_files():
        for line in bash_lines(path):
            for argv in attrlab_argvs(line):
                found.append((str(path.relative_to(ROOT)), line.strip(), argv))
    return found


def parse_failure(parser, argv: list[str]) -> str | None:
    """None if attrlab's own parser accepts argv, else its error (argparse exits on a bad line)."""
    import contextlib
    import io

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv)
    except SystemExit as exit_:
        if exit_.code not in (0, None):  # --help exits 0
            return err.getvalue().strip() or f"exit {exit_.code}"
    return None


@pytest.fixture(scope="module")
def parser():
    from attrlab.cli import build_parser

    return build_parser()


def test_readme_is_at_most_150_lines_and_opens_with_the_run_and_test_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150, f"README.md has {len(text.splitlines())} lines (at most 150)"
    blocks = code_blocks(text)
    assert blocks, "README.md has no code block"
    lines = blocks[0][1].splitlines()
    assert lines == [RUN_COMMAND, TEST_COMMAND], f"README.md's first code block is {lines}"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    executed = [line for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    pytest_part = TEST_COMMAND.split("&&")[-1].strip()  # .venv/bin/python -m pytest
    assert any(pytest_part in line for line in executed), f".ci/run does not run '{pytest_part}'"


def test_the_docs_show_attrlab_commands():
    files = {f for f, _, _ in documented_commands()}
    assert "README.md" in files and any(f.startswith("docs/") for f in files), files


def test_every_documented_attrlab_command_parses(parser):
    bad = [f"{f}: {line}\n    {why}" for f, line, argv in documented_commands()
           if (why := parse_failure(parser, argv)) is not None]
    assert not bad, "documented commands attrlab's parser refuses:\n" + "\n".join(bad)


@pytest.mark.parametrize("line", [
    "attrlab rnu smerf",                                   # a typo'd subcommand
    "attrlab run smerf --methds gradient   # a typo'd flag",
    "attrlab compare --metric insertion",                  # a missing positional
])
def test_a_typo_in_a_documented_command_is_caught(parser, line):
    (argv,) = attrlab_argvs(line)
    assert parse_failure(parser, argv) is not None


def test_command_lines_are_found_after_install_commands_and_without_comments():
    assert attrlab_argvs(RUN_COMMAND) == [["run"]]
    assert attrlab_argvs(TEST_COMMAND) == []
    assert attrlab_argvs("attrlab report runs/al1   # rebuild") == [["report", "runs/al1"]]
    assert attrlab_argvs("python benchmarks/bench_check.py") == []


def test_mkdocs_builds_the_docs_strictly(tmp_path):
    mkdocs = pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[docs]')")
    import yaml

    assert (DOCS / "ARCHITECTURE.md").exists(), "mkdocs.yml's nav lists docs/ARCHITECTURE.md"
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    config["docs_dir"] = str(DOCS)
    version = tuple(int(p) for p in re.findall(r"\d+", mkdocs.__version__)[:2])
    if version >= (1, 6):  # broken #anchors warn (and so fail --strict) from mkdocs 1.6 on
        config.setdefault("validation", {}).setdefault("anchors", "warn")
    config_file = tmp_path / "mkdocs.yml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config_file),
                           "-d", str(tmp_path / "site")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "index.html").exists()
