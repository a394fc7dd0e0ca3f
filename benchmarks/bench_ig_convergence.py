"""Integrated Gradients' completeness gap on AttributionLab's designed network, by step count and
detector ramp width (issue 11 part 1), and IG*'s positive precision against IG's.

    python benchmarks/bench_ig_convergence.py [--size 64] [--n-images 8] [--seed 0]

Prints, per setting (redundant / no-redundant), ramp (the widest the palette allows, and the
reference prototype's half-grey-level one) and step count: the max and mean gap
|Σa − (f(x) − f(x0))| / |f(x) − f(x0)| over the images for IG (zero baseline) and IG* (true
baseline), and positive precision of the sign-binarised maps (attr > 1e-6·max|attr|, as
attrlab's metric). Target: gap < 1% on every image at some step count, and the step count at which
IG*'s precision can be compared with IG's.
"""
import argparse
import time

import torch

from attrlab.data import BACKGROUND, PALETTE, generate_colour_patches
from attrlab.methods.registry import get_method
from attrlab.models import DesignedColourCounter


def positive_precision(attr: torch.Tensor, positive: torch.Tensor) -> float:
    s = attr.sum(1)
    values = []
    for i in range(len(s)):
        selected = s[i] > 1e-6 * s[i].abs().max()
        values.append(float((selected & positive[i]).sum()) / max(1, int(selected.sum())))
    return sum(values) / len(values)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--n-images", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", default="50,128,256,512")
    args = ap.parse_args()
    torch.set_num_threads(1)
    batch = generate_colour_patches(args.n_images, size=args.size, n_colours=4, seed=args.seed)
    true = (torch.tensor(BACKGROUND).float().view(1, 3, 1, 1) / 255).expand_as(batch.images).contiguous()
    positive = batch.colour_index == batch.labels.view(-1, 1, 1)
    print(f"{'setting':13} {'ramp':>6} {'steps':>5}  {'IG gap max/mean':>16}  {'IG* gap max/mean':>17}  "
          f"{'IG prec':>7} {'IG* prec':>8}  seconds")
    for n_redundant, setting in ((2, "redundant"), (0, "no-redundant")):
        for ramp in (None, 0.5):
            net = DesignedColourCounter(PALETTE[:4], BACKGROUND, size=args.size, n_redundant=n_redundant,
                                        ramp=ramp, seed=args.seed).eval()
            for steps in (int(s) for s in args.steps.split(",")):
                cells, t0 = [], time.perf_counter()
                for baseline in ("zeros", "true"):
                    ig = get_method(f"integrated_gradients:baseline={baseline}:steps={steps}")
                    attr = ig(net, batch.images, batch.labels, true_baseline=true)
                    gap = ig.completeness_gap(net, batch.images, batch.labels, attr, true_baseline=true)
                    cells.append((float(gap.max()), float(gap.mean()), positive_precision(attr, positive)))
                (g1, m1, p1), (g2, m2, p2) = cells
                print(f"{setting:13} {net.ramp:6.2f} {steps:5d}  {100 * g1:7.2f}%/{100 * m1:6.2f}%  "
                      f"{100 * g2:8.2f}%/{100 * m2:6.2f}%  {p1:7.3f} {p2:8.3f}  {time.perf_counter() - t0:6.1f}",
                      flush=True)


if __name__ == "__main__":
    main()
