"""ROAD's noisy linear imputation (Rong et al., ICML 2022, §4), batched in torch.

Each removed pixel becomes the weighted mean of its 8 neighbours (weight 1/6 for the 4 edge
neighbours, 1/12 for the 4 diagonal ones; neighbours outside the image are left out), which
couples the removed pixels into one sparse linear system per image and channel; then N(0, σ²)
noise (σ = 0.01) is added to the removed pixels. The reference (tleemann/road_evaluation,
``road/imputations.py``) builds that system in scipy and solves it one image at a time (6-25 ms
an image at 64², seconds at 224²). Here it is solved for a whole batch at once by conjugate
gradients with a Jacobi preconditioner, the operator being one 3×3 convolution: the system
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
import torch.nn.functional as F

EDGE, DIAGONAL = 1 / 6, 1 / 12
DTYPE = torch.float32  # the solve's precision: float32 meets the 1e-3 bound against scipy by 3 orders (tests)
STENCIL = torch.tensor([[DIAGONAL, EDGE, DIAGONAL], [EDGE, 0.0, EDGE], [DIAGONAL, EDGE, DIAGONAL]])


def _neighbours(v: torch.Tensor) -> torch.Tensor:
    """Σ_j w_j v_j over each pixel's in-image neighbours, for v ``(M, 1, H, W)`` (zero padding):
    :data:`STENCIL` as eight shifted adds (a one-channel 3×3 ``conv2d`` is ~10× slower on a CPU)."""
    p = F.pad(v, (1, 1, 1, 1))
    edge = p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]
    diagonal = p[..., :-2, :-2] + p[..., :-2, 2:] + p[..., 2:, :-2] + p[..., 2:, 2:]
    return EDGE * edge + DIAGONAL * diagonal


def linear_impute(images: torch.Tensor, keep: torch.Tensor, tol: float = 1e-5, max_iter: int = 2000) -> torch.Tensor:
    """Solve the imputation system (noise-free) for images ``(N, C, H, W)`` and masks of kept
    pixels ``keep`` ``(N, H, W)``; kept pixels are returned unchanged. Conjugate gradients per
    image and channel, all at once, until every residual is below ``tol`` × its right-hand side."""
    n, c, h, w = images.shape
    x = images.to(DTYPE).reshape(n * c, 1, h, w)
    known = keep.to(images.device).repeat_interleave(c, 0).view(n * c, 1, h, w).to(DTYPE)
    unknown = 1.0 - known
    diag = _neighbours(torch.ones_like(x)) * unknown + known       # Σ of in-image neighbour weights
    rhs = _neighbours(x * known) * unknown

    def apply(v):  # (D − W_uu) v on the removed pixels; v is 0 on kept ones
        return (diag * v - _neighbours(v)) * unknown

    def dot(a, b):
        return (a * b).sum(dim=(1, 2, 3), keepdim=True)

    # start from each channel's mean of the kept pixels
    mean = (x * known).sum(dim=(2, 3), keepdim=True) / known.sum(dim=(2, 3), keepdim=True).clamp_min(1)
    sol = mean * unknown
    r = rhs - apply(sol)
    z = r / diag
    p = z.clone()
    rz = dot(r, z)
    stop = (tol * rhs.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12))
    for _ in range(max_iter):
        active = r.abs().amax(dim=(1, 2, 3), keepdim=True) > stop  # a converged system stops moving, so an
        if not bool(active.any()):                                 # image's fill never depends on its batch
            break
        ap = apply(p)
        alpha = torch.where(active, rz / dot(p, ap).clamp_min(1e-30), torch.zeros_like(rz))
        sol = sol + alpha * p
        r = r - alpha * ap
        z = r / diag
        rz_new = dot(r, z)
        p = z + (rz_new / rz.clamp_min(1e-30)) * p
        rz = rz_new
    out = x * known + sol * unknown
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
            eps = torch.stack([torch.randn(out.shape[1:], generator=g) for g in generators])
        removed = (~keep.to(out.device)).unsqueeze(1)
        out = torch.where(removed, out + noise * eps.to(out.device, out.dtype), out)
    return out
