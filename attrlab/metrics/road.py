"""ROAD's noisy linear imputation (Rong et al., ICML 2022, §4), batched in torch.

Each removed pixel becomes the weighted mean of its 8 neighbours (weight 1/6 for the 4 edge
neighbours, 1/12 for the 4 diagonal ones; neighbours outside the image are left out), which
couples the removed pixels into one sparse linear system per image and channel; then N(0, σ²)
noise (σ = 0.01) is added to the removed pixels. The reference (tleemann/road_evaluation,
``road/imputations.py``) builds that system in scipy and solves it one image at a time (6-25 ms
an image at 64², seconds at 224²). Here it is solved for a whole batch at once by conjugate
gradients with a Jacobi preconditioner, the operator being one 3×3 stencil: the system
``D x_u − W_uu x_u = W_uk x_k`` is symmetric and positive definite whenever any pixel is kept
(every connected hole borders a kept pixel). Written here because no kept library solves this
stencil batched; checked against scipy's sparse solve of the reference's system (tests).

Example (a 4×4 image, the centre removed: it becomes the mean of its neighbours):
    >>> import torch
    >>> x = torch.arange(16.0).view(1, 1, 4, 4)
    >>> keep = torch.ones(1, 4, 4, dtype=torch.bool); keep[0, 1:3, 1:3] = False
    >>> out = noisy_linear_impute(x, keep, noise=0.0)
    >>> torch.allclose(out[0, 0, 1:3, 1:3], x[0, 0, 1:3, 1:3], atol=1e-4)   # a linear ramp is kept exactly
    True
"""
from __future__ import annotations

import torch

from .parallel import per_sample_normal

EDGE, DIAGONAL = 1 / 6, 1 / 12
DTYPE = torch.float32  # the solve's precision: float32 meets the 1e-3 bound against scipy by 3 orders (tests)
STENCIL = torch.tensor([[DIAGONAL, EDGE, DIAGONAL], [EDGE, 0.0, EDGE], [DIAGONAL, EDGE, DIAGONAL]])


class _Stencil:
    """Σ_j w_j v_j over each pixel's in-image neighbours for v ``(M, H, W)``, into ``out``, with
    buffers kept between calls: the stencil is separable but for its centre, ``([1, 2, 1] ⊗ [1, 2,
    1]) / 12 − centre / 3``, so it is four shifted adds on a zero-padded copy (a one-channel 3×3
    ``conv2d`` is ~10× slower on a CPU, eight shifted adds with fresh tensors ~3×: measured with
    benchmarks/bench_auto_metrics.py)."""

    def __init__(self, like: torch.Tensor):
        m, h, w = like.shape
        self.pad = like.new_zeros(m, h + 2, w + 2)
        self.rows = like.new_empty(m, h, w + 2)

    def shrink(self, index: torch.Tensor) -> None:
        self.pad, self.rows = self.pad[index], self.rows[index]

    def __call__(self, v: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        pad, rows = self.pad, self.rows
        pad[:, 1:-1, 1:-1].copy_(v)
        torch.add(pad[:, :-2], pad[:, 2:], out=rows)
        rows.add_(pad[:, 1:-1], alpha=2.0)
        torch.add(rows[..., :-2], rows[..., 2:], out=out)
        out.add_(rows[..., 1:-1], alpha=2.0)
        return out.mul_(1 / 12).sub_(v, alpha=1 / 3)


def _per_system(t: torch.Tensor) -> torch.Tensor:
    """Σ over each system ``(M, H, W)`` → ``(M,)``, row by row and then over the rows: torch splits
    one long reduction across threads once a row of the work is ≥ 32,768 elements, which would make
    the sum of a system left alone (after the others finished) round unlike the same system's sum
    in a batch."""
    return t.sum(2).sum(1)


def linear_impute(images: torch.Tensor, keep: torch.Tensor, tol: float = 1e-5, max_iter: int = 2000) -> torch.Tensor:
    """Solve the imputation system (noise-free) for images ``(N, C, H, W)`` and masks of kept
    pixels ``keep`` ``(N, H, W)``; kept pixels are returned unchanged. Conjugate gradients per
    image and channel, all at once, until every residual is below ``tol`` × its right-hand side.

    Every system has its own step sizes and stops by its own residual, so an image's fill never
    depends on the batch it came in; once fewer than half the systems still move, the finished
    ones are dropped from the work (the updates stay in place, without fresh tensors: a long run
    otherwise spends as much system time on allocation as on arithmetic)."""
    n, c, h, w = images.shape
    x = images.to(DTYPE).reshape(n * c, h, w)
    known = keep.to(images.device).repeat_interleave(c, 0).to(DTYPE)
    unknown = 1.0 - known
    stencil = _Stencil(x)
    diag = stencil(torch.ones_like(x), torch.empty_like(x)).mul_(unknown).add_(known)  # Σ in-image weights
    inv_diag = diag.reciprocal()
    rhs = stencil(x * known, torch.empty_like(x)).mul_(unknown)
    # start from each channel's mean of the kept pixels
    mean = (_per_system(x * known) / _per_system(known).clamp_min(1)).view(-1, 1, 1)
    sol = mean * unknown
    ap = torch.empty_like(x)

    def apply(v):  # ap = (D − W_uu) v on the removed pixels; v is 0 on kept ones
        stencil(v, ap)
        return torch.addcmul(ap.neg_(), diag, v, out=ap).mul_(unknown)

    r = rhs - apply(sol)
    z = r * inv_diag
    p = z.clone()
    rz = _per_system(r * z)
    stop = tol * rhs.abs().amax(dim=(1, 2)).clamp_min(1e-12)
    done = torch.empty_like(sol)  # the finished systems' solutions, written as they are dropped
    alive = torch.arange(len(x), device=x.device)
    for _ in range(max_iter):
        active = r.abs().amax(dim=(1, 2)) > stop
        count = int(active.sum())
        if count == 0:
            break
        if count <= len(alive) // 2:  # drop the finished systems from every buffer
            done[alive[~active]] = sol[~active]
            alive, sol, r, p, rz, stop = alive[active], sol[active], r[active], p[active], rz[active], stop[active]
            diag, inv_diag, unknown, ap, z = diag[active], inv_diag[active], unknown[active], ap[active], z[active]
            stencil.shrink(active)
            active = active[active]
        apply(p)
        alpha = torch.where(active, rz / _per_system(p * ap).clamp_min(1e-30), torch.zeros_like(rz)).view(-1, 1, 1)
        sol.addcmul_(alpha, p)
        r.addcmul_(alpha, ap, value=-1)
        torch.mul(r, inv_diag, out=z)
        rz_new = _per_system(r * z)
        p.mul_((rz_new / rz.clamp_min(1e-30)).view(-1, 1, 1)).add_(z)
        rz = rz_new
    done[alive] = sol
    out = torch.where(known > 0, x, done)
    return out.view(n, c, h, w).to(images.dtype)


def noisy_linear_impute(images: torch.Tensor, keep: torch.Tensor, noise: float = 0.01,
                        generators: list[torch.Generator] | None = None) -> torch.Tensor:
    """ROAD's ``NoisyLinearImputer``: :func:`linear_impute`, then N(0, ``noise``²) on the removed
    pixels, drawn per sample from ``generators`` (one per sample; default: torch's global one)."""
    out = linear_impute(images, keep)
    if noise > 0:
        if generators is None:
            eps = torch.randn(out.shape)
        else:
            eps = per_sample_normal(generators, tuple(out.shape[1:]))
        removed = (~keep.to(out.device)).unsqueeze(1)
        out = torch.where(removed, out + noise * eps.to(out.device, out.dtype), out)
    return out
