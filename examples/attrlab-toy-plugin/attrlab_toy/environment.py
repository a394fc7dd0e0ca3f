"""An environment registered by a plug-in: 1 × 8 "images" whose class is which half is lit, and a
linear model set by hand that reads exactly the lit half; the ground truth is that half."""
import torch

from attrlab.core import Environment, EvalSet, GroundTruth, Verification
from attrlab.environments import EnvironmentSpec, Option, register_environment

SPEC = EnvironmentSpec(
    name="toy-line", description="a plug-in's example: which half of a line is lit", modality="image",
    settings=("line",), presets={"quick": {"n": 8}},
    options=(Option("n", int, 8, "samples", minimum=2, maximum=1000, shapes_model=False),),
    test_options={"n": 4})


class HalfReader(torch.nn.Sequential):
    def __init__(self):
        super().__init__(torch.nn.Flatten(), torch.nn.Linear(8, 2, bias=False))
        with torch.no_grad():
            self[1].weight.copy_(torch.tensor([[1.0] * 4 + [0.0] * 4, [0.0] * 4 + [1.0] * 4]))


@register_environment(SPEC)
def build(preset, *, seed, settings, device, progress, n):
    targets = torch.arange(n) % 2
    x = torch.zeros(n, 1, 1, 8)
    focus = torch.zeros(n, 1, 8, dtype=torch.bool)
    for i, t in enumerate(targets.tolist()):
        x[i, 0, 0, 4 * t:4 * t + 4] = 1.0
        focus[i, 0, 4 * t:4 * t + 4] = True
    model = HalfReader().eval()
    verified = bool((model(x).argmax(1) == targets).all())
    ev = EvalSet("toy-line", model, x, targets, GroundTruth(focus=focus), "line",
                 verification=Verification(verified, {"accuracy": 1.0 if verified else 0.0}))
    return Environment("toy-line", {"preset": preset, "seed": seed, "n": n}, [ev])
