"""Score your own attribution method beside registered ones on AttributionLab.

    python examples/custom_method.py

Any function ``(model, inputs, targets) -> attributions`` is a method (Quantus's ``explain_func``
signature); it may also ask for ``true_baseline`` or ``true_segments`` by naming them.
"""
import tempfile

import torch

from attrlab.report import load_records, summary
from attrlab.runner import RunConfig, run


def occlusion_1px(model, inputs, targets, true_baseline):
    """Replace each pixel in turn by the true baseline and record the drop in the target's score.
    Exact on AttributionLab's designed network (every pixel counts once), slow anywhere else."""
    with torch.no_grad():
        base = model(inputs).gather(1, targets.view(-1, 1)).squeeze(1)
        n, c, h, w = inputs.shape
        out = torch.zeros(n, h, w)
        for r in range(h):
            x = inputs.repeat_interleave(w, 0)
            cols = torch.arange(w).repeat(n)
            x[torch.arange(n * w), :, r, cols] = true_baseline.repeat_interleave(w, 0)[torch.arange(n * w), :, r, cols]
            out[:, r] = (base.repeat_interleave(w) - model(x).gather(1, targets.repeat_interleave(w).view(-1, 1)).squeeze(1)).view(n, w)
    return (out.unsqueeze(1) / c).expand_as(inputs)


if __name__ == "__main__":
    out = run(RunConfig(environment="attributionlab", out_dir=tempfile.mkdtemp(prefix="attrlab-"),
                        methods=[occlusion_1px, "occlusion:baseline=true", "integrated_gradients"],
                        options={"n_images": 4, "size": 32}, progress=False))
    cols = ["positive_f1", "negative_f1", "overall_f1"]
    print(summary(load_records(out))[cols].round(3).to_string())
    print(f"report: {out / 'report.html'}")
