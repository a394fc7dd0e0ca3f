"""Benchmark: each method through attrlab vs the same Captum/zennit call made directly, and the
metrics on 10,000 maps vs a per-sample loop.

    python benchmarks/bench_methods.py            # batch of 64 images of 64×64, 10,000 maps
    python benchmarks/bench_methods.py --batch 16 --maps 2000   # quicker

Model: SMERF's simple CNN shape (3 stride-2 convs 32/64/64, Linear 4096→200→2), random weights,
random images; threads = torch's default. Each timing is the best of --repeat runs.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import (DeepLift, DeepLiftShap, Deconvolution, GradientShap, GuidedBackprop, GuidedGradCam,
                         InputXGradient, IntegratedGradients, KernelShap, LayerAttribution, LayerGradCam, Lime,
                         NoiseTunnel, Occlusion, Saliency)
from torch import nn
from zennit.attribution import Gradient
from zennit.composites import LayerMapComposite
from zennit.rules import Epsilon
from zennit.types import Convolution, Linear

from attrlab import get_method
from attrlab.evaluation import score
from attrlab.core import GroundTruth
from attrlab.methods.perturbation import _lime_kernel, segment


def smerf_simple_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
                         nn.Conv2d(64, 64, 3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(4096, 200), nn.ReLU(),
                         nn.Linear(200, 2)).eval()


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--maps", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # captum's hook notices, the same for both sides
    torch.manual_seed(0)
    model = smerf_simple_cnn()
    x = torch.rand(args.batch, 3, 64, 64)
    y = torch.randint(0, 2, (args.batch,))
    leaf = lambda: x.clone().requires_grad_(True)  # noqa: E731
    zeros = torch.zeros_like(x)
    sigma = float(0.15 * (x.max() - x.min()))
    layer = model[4]
    segs = segment(x[:8], "quickshift")

    def lrp_direct():
        comp = LayerMapComposite(layer_map=[(Convolution, Epsilon(epsilon=1e-6)), (Linear, Epsilon(epsilon=1e-6))])
        with Gradient(model=model, composite=comp) as attributor:
            out = model(leaf())
            attributor(leaf(), torch.nn.functional.one_hot(y, 2).float())

    def lime_direct():
        lime = Lime(model, interpretable_model=SkLearnRidge(alpha=1.0), similarity_func=_lime_kernel(0.25))
        for i in range(8):
            lime.attribute(x[i:i + 1], baselines=zeros[i:i + 1], target=int(y[i]), feature_mask=segs[i:i + 1].unsqueeze(1),
                           n_samples=200, perturbations_per_eval=64)

    cases = [
        ("gradient", lambda: Saliency(model).attribute(leaf(), target=y, abs=False)),
        ("input_x_gradient", lambda: InputXGradient(model).attribute(leaf(), target=y)),
        ("smoothgrad", lambda: NoiseTunnel(Saliency(model)).attribute(leaf(), nt_type="smoothgrad", nt_samples=25,
                                                                       stdevs=sigma, nt_samples_batch_size=1,
                                                                       target=y, abs=False)),
        ("integrated_gradients", lambda: IntegratedGradients(model).attribute(leaf(), baselines=zeros, target=y, n_steps=50,
                                                                              internal_batch_size=max(len(x), 64))),
        ("deeplift", lambda: DeepLift(model).attribute(leaf(), baselines=zeros, target=y)),
        ("deeplift_shap", lambda: DeepLiftShap(model).attribute(leaf(), baselines=torch.cat([zeros[:1], x]), target=y)),
        ("gradient_shap", lambda: GradientShap(model).attribute(leaf(), baselines=torch.cat([zeros[:1], x]), n_samples=20,
                                                                target=y)),
        ("guided_backprop", lambda: GuidedBackprop(model).attribute(leaf(), target=y)),
        ("deconvnet", lambda: Deconvolution(model).attribute(leaf(), target=y)),
        ("gradcam", lambda: LayerAttribution.interpolate(LayerGradCam(model, layer).attribute(leaf(), target=y,
                                                         relu_attributions=True), (64, 64), "bilinear")),
        ("guided_gradcam", lambda: GuidedGradCam(model, layer).attribute(leaf(), target=y, interpolate_mode="bilinear")),
        ("occlusion", lambda: Occlusion(model).attribute(x, sliding_window_shapes=(3, 8, 8), strides=(3, 4, 4),
                                                         baselines=zeros, target=y, perturbations_per_eval=32)),
        ("lrp_epsilon", lrp_direct),
    ]
    print(f"methods on a batch of {args.batch} images 3×64×64 (lime: first 8), torch threads {torch.get_num_threads()}")
    print(f"{'method':22s} {'attrlab s':>10s} {'direct s':>10s} {'ratio':>7s}")
    for name, direct in cases:
        m = get_method({"smoothgrad": "smoothgrad", "integrated_gradients": "integrated_gradients"}.get(name, name))
        m_fn = lambda: m(model, x, y)  # noqa: E731
        m_fn(), direct()  # warm-up: first calls pay for allocation and hook set-up
        a, d = best(m_fn, args.repeat), best(direct, args.repeat)
        print(f"{name:22s} {a:10.3f} {d:10.3f} {a / d:7.2f}")
    m = get_method("lime")
    a = best(lambda: m(model, x[:8], y[:8]), 1)
    d = best(lime_direct, 1)
    print(f"{'lime (8 images)':22s} {a:10.3f} {d:10.3f} {a / d:7.2f}   (attrlab's time includes quickshift)")

    # metrics on N maps of 64×64 against random regions
    n = args.maps
    g = torch.Generator().manual_seed(0)
    maps = torch.randn(n, 3, 64, 64, generator=g)
    pos = torch.rand(n, 64, 64, generator=g) < 0.1
    neg = (torch.rand(n, 64, 64, generator=g) < 0.1) & ~pos
    gt = GroundTruth(focus=pos | neg, positive=pos, negative=neg)
    t_vec = best(lambda: score(maps, gt), args.repeat)
    t_one = best(lambda: score(maps, gt, chunk=n), 1)

    def loop():
        for i in range(n):
            a = maps[i].numpy()
            mag = np.abs(a).sum(0)
            f = gt.focus[i].numpy()
            _ = mag[f].sum() / mag.sum()
            k = int(f.sum())
            top = np.argsort(-mag.ravel())[:k]
            sel = np.zeros(mag.size, bool)
            sel[top] = True
            _ = (sel & f.ravel()).sum() / (sel | f.ravel()).sum()
            s = a.sum(0)
            tau = 0.01 * np.abs(s).max()
            for sel_, t_ in ((s > tau, pos[i].numpy()), (s < -tau, neg[i].numpy()), (np.abs(s) > tau, f)):
                tp = (sel_ & t_).sum()
                _ = tp / max(sel_.sum(), 1), tp / max(t_.sum(), 1)

    t_loop = best(loop, 1)
    print(f"\nmetrics (mass, MAFL, top-K IoU, signed P/R/F1) on {n} maps 3×64×64:")
    print(f"  attrlab vectorised, chunks of 256: {t_vec:.2f} s ({n / t_vec:,.0f} maps/s)")
    print(f"  attrlab vectorised, one chunk: {t_one:.2f} s ({n / t_one:,.0f} maps/s)")
    print(f"  per-sample numpy loop (same metrics, no MAFL): {t_loop:.2f} s ({n / t_loop:,.0f} maps/s)")
    print(f"  ratio loop / attrlab: {t_loop / t_vec:.1f}×")


if __name__ == "__main__":
    main()
