"""Every command the README shows runs — at smoke sizes (``ATTRLAB_SMOKE=1``: each environment
built at its ``test_options``, in seconds), in the order the README gives them, in a folder that
holds the material the README's examples name (your methods, models, weights and image folders).
A README command the material below cannot serve fails here: add its material, or fix the command.

``check`` may exit 1 (a failing check is a verdict, and at smoke sizes no trained model verifies);
every other command must exit 0. The install lines' ``attrlab run`` is run as ``attrlab run``.
"""
from __future__ import annotations

import re

import pytest

from test_docs import README, attrlab_argvs, bash_lines, code_blocks

EXIT_OK = {"check": (0, 1)}  # check's exit code is its verdict

pytestmark = pytest.mark.filterwarnings("ignore")


def _images(root, classes=("cat", "dog"), n=24, side=40):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
            pixels[..., k] = 200  # each class its own tint
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def make_material(folder):
    """What the README's examples name, made here: ./my_methods.py, ./my_models.py, ./net.py with
    net.pt, and the image folders faces/, imgs/ and path/to/folder."""
    import torch

    (folder / "my_methods.py").write_text(
        "import torch\n"
        "def vargrad(model, inputs, targets, n=4, sigma=0.1):\n"
        "    grads = []\n"
        "    for _ in range(n):\n"
        "        x = (inputs + sigma * torch.randn_like(inputs)).requires_grad_(True)\n"
        "        out = model(x).gather(1, targets[:, None]).sum()\n"
        "        grads.append(torch.autograd.grad(out, x)[0])\n"
        "    return torch.stack(grads).var(0)\n")
    (folder / "my_models.py").write_text(
        "import torch\n"
        "class MyCNN(torch.nn.Module):\n"
        "    def __init__(self, input_shape, n_classes):\n"
        "        super().__init__()\n"
        "        self.conv = torch.nn.Conv2d(input_shape[0], 8, 3, padding=1)\n"
        "        self.head = torch.nn.Linear(8, n_classes)\n"
        "    def forward(self, x):\n"
        "        return self.head(torch.relu(self.conv(x)).amax((2, 3)))\n")
    (folder / "net.py").write_text((folder / "my_models.py").read_text().replace("MyCNN", "Net"))
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_net", folder / "net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    torch.save(module.Net((3, 64, 64), 2).state_dict(), folder / "net.pt")
    for name in ("faces", "imgs", "path/to/folder"):
        _images(folder / name)


def readme_commands() -> list[list[str]]:
    """The argument lists of the README's attrlab commands, in order."""
    return [argv for line in bash_lines(README) for argv in attrlab_argvs(line)]


def test_the_readme_shows_the_commands_this_test_runs():
    commands = readme_commands()
    assert commands[0] == ["run"] and len(commands) >= 10, commands
    assert {argv[0] for argv in commands} >= {"run", "list", "report", "check", "compare", "meta", "evaluate"}


def test_every_readme_command_runs_at_smoke_sizes(tmp_path, monkeypatch, capsys):
    from attrlab.cli import main

    make_material(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ATTRLAB_SMOKE", "1")
    monkeypatch.setenv("ATTRLAB_CACHE", str(tmp_path / "cache"))
    failed = []
    for argv in readme_commands():
        quiet = ["--no-progress"] if argv[0] in ("run", "study", "evaluate") else []
        code = main(argv + quiet)
        out = capsys.readouterr()
        if code not in EXIT_OK.get(argv[0], (0,)):
            failed.append(f"attrlab {' '.join(argv)} exited {code}: {out.err.strip()[-400:]}")
    assert not failed, "README commands that fail:\n" + "\n".join(failed)
    assert (tmp_path / "runs" / "attributionlab" / "report.html").exists()
    assert (tmp_path / "runs" / "smerf" / "report.html").exists()


def test_the_readme_python_example_runs(monkeypatch, capsys):
    monkeypatch.setenv("ATTRLAB_SMOKE", "1")
    (code,) = [body for lang, body in code_blocks(README.read_text(encoding="utf-8")) if lang == "python"]
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert re.search(r"tensor\(\[", printed), printed
