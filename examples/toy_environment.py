"""A new environment in one file: bright patches and a designed detector (docs/ARCHITECTURE.md).

Images hold noise below 0.5 in every channel; label-1 images carry a 4×4 patch of 1.0 in the red
channel. The model is set by hand: its class-1 logit sums relu(red − 0.5), so it sees the patch
and nothing else, and the patch is the ground truth. Importing this file registers it:

    python -c "import runpy; runpy.run_path('examples/toy_environment.py', run_name='__main__')"
"""
import torch
from torch import nn

from attrlab.core import Environment, EvalSet, GroundTruth, Verification
from attrlab.environments import EnvironmentSpec, Option, register_environment


class PatchDetector(nn.Module):
    """Logits (1, Σ relu(red − 0.5)): class 1 exactly when red pixels above 0.5 add up past 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = torch.relu(x[:, 0] - 0.5).flatten(1).sum(1)
        return torch.stack([torch.ones_like(score), score], 1)


SPEC = EnvironmentSpec(
    name="toy-patch", description="bright red patches and a hand-set detector (documentation example)",
    modality="image", settings=("patch",), presets={"quick": {}, "full": {"n_images": 64, "side": 64}},
    options=(Option("n_images", int, 8, "number of images", minimum=2),
             Option("side", int, 16, "image side in pixels", minimum=8)),
    test_options={"n_images": 4})


@register_environment(SPEC)
def build(preset, *, seed, settings, device, progress, n_images, side):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n_images, 3, side, side, generator=g) * 0.5
    targets = torch.arange(n_images) % 2
    focus = torch.zeros(n_images, side, side, dtype=torch.bool)
    for i in torch.nonzero(targets).flatten().tolist():
        r, c = torch.randint(0, side - 4, (2,), generator=g).tolist()
        x[i, 0, r:r + 4, c:c + 4] = 1.0
        focus[i, r:r + 4, c:c + 4] = True
    model = PatchDetector().eval()
    with torch.no_grad():
        accuracy = float((model(x).argmax(1) == targets).float().mean())
    truth = GroundTruth(focus=focus, facts={"has_patch": targets.tolist()})
    ev = EvalSet("toy-patch", model, x, targets, truth, "patch",
                 verification=Verification(accuracy == 1.0, {"accuracy": accuracy}))
    return Environment("toy-patch", {"preset": preset, "seed": seed, "n_images": n_images, "side": side}, [ev])


if __name__ == "__main__":
    import tempfile

    from attrlab.runner import RunConfig, run

    out = run(RunConfig(environment="toy-patch", methods=["gradient", "random"], out_dir=tempfile.mkdtemp()))
    print(out / "report.html")
