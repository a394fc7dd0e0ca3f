"""One training loop for every trained environment: Adam, cross-entropy, and verification on
held-out data group by group (SMERF's buckets), stopping as soon as every group is verified.

A model that ends its epoch budget unverified is returned with ``passed = False``; environments
record that, and the report flags its scores.
"""
from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from ..storage import load_tensors, write_atomic


def group_accuracy(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor,
                   device: torch.device, batch_size: int = 512) -> dict[int, float]:
    """Accuracy of ``model`` on each group id in ``groups``.

    Example:
        >>> m = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
        >>> acc = group_accuracy(m, torch.zeros(4, 1, 2, 2), torch.zeros(4, dtype=torch.long),
        ...                      torch.tensor([1, 1, 2, 2]), torch.device("cpu"))
        >>> sorted(acc)
        [1, 2]
    """
    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(inputs), batch_size):
            preds.append(model(inputs[i:i + batch_size].to(device)).argmax(1).cpu())
    correct = (torch.cat(preds) == labels).float()
    return {int(g): float(correct[groups == g].mean()) for g in groups.unique()}


def accuracy(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, device: torch.device | str = "cpu") -> float:
    """Overall accuracy (one group).

    Example:
        >>> m = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
        >>> with torch.no_grad():
        ...     _ = m[1].bias.copy_(torch.tensor([1.0, 0.0]))  # zero inputs: the bias decides, class 0
        >>> accuracy(m, torch.zeros(3, 4), torch.zeros(3, dtype=torch.long))
        1.0
    """
    return group_accuracy(model, inputs, labels, torch.zeros(len(labels), dtype=torch.long), torch.device(device))[0]


def train_verified(model: nn.Module, train: tuple, val: tuple, threshold: float = 0.95, max_epochs: int = 20,
                   lr: float = 1e-3, batch_size: int = 64, seed: int = 0, device: torch.device | str = "cpu",
                   progress: bool = True, desc: str = "training",
                   on_epoch: Callable[[int, nn.Module, dict], Any] | None = None,
                   ready: Callable[[nn.Module], bool] | None = None,
                   checkpoint: str | os.PathLike | None = None, weight_decay: float = 0.0,
                   clip: float | None = None, on_step: Callable[[int, nn.Module], Any] | None = None
                   ) -> dict[str, Any]:
    """Train ``model`` on ``train = (inputs, labels)`` until every group of ``val = (inputs,
    labels, groups)`` reaches ``threshold`` accuracy, or ``max_epochs`` pass (``val = (inputs,
    labels)``: one group, the overall accuracy). ``on_epoch(epoch,
    model, accuracy_by_group)`` runs after each epoch's validation (checkpoints, test accuracy).
    A model with a ``training_loss(inputs, labels)`` method (rationale models) is trained on that
    instead of cross-entropy; ``ready(model)`` is a further condition for stopping early (e.g. a
    rationale model's selection rate on the target).

    ``on_step(step, model)`` runs after every optimiser step (step counts from 1 over the whole
    training; the model is in training mode: switch it to eval and back to measure it).
    ``weight_decay`` is Adam's (L2, as ``torch.optim.Adam`` applies it); ``clip`` rescales each
    step's gradient to at most that global norm (``clip_grad_norm_``; Zhou et al.'s code clips at 5).

    ``checkpoint``: a file written (atomically, tensors only) after every epoch with the model,
    the optimiser, the random states and what ``on_epoch`` returned; a training that was killed
    resumes from its last finished epoch and ends exactly where an uninterrupted one would.

    Returns the training record: per-group validation accuracy and the worst of them
    (``val_worst``), epochs, seconds, ``ready`` (what ``ready(model)`` said at the end),
    ``reached_target`` (threshold and ``ready`` met: the training's own criterion, which
    :func:`attrlab.environments.trained.train_or_load` restarts on; never the verification), and
    ``epoch_results`` (what ``on_epoch`` returned after each epoch, in order).
    """
    device = torch.device(device)
    g = torch.Generator().manual_seed(seed)
    x, y = train
    vx, vy, vg = val if len(val) == 3 else (*val, torch.zeros(len(val[1]), dtype=torch.long))
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    acc: dict[int, float] = {}
    epoch, first, results, spent = 0, 1, [], 0.0
    path = Path(checkpoint) if checkpoint else None
    if path is not None and path.exists():
        try:
            state = load_tensors(path)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            g.set_state(state["generator"])
            torch.set_rng_state(state["torch_rng"])
            epoch, acc, results, spent = state["epoch"], state["accuracy"], state["results"], state["seconds"]
            first = epoch + 1
        except Exception as exc:  # a damaged checkpoint: start again
            warnings.warn(f"training checkpoint {path} is unusable ({exc}); training from the start", stacklevel=2)
            path.unlink(missing_ok=True)
    done = bool(acc) and min(acc.values()) >= threshold and (ready is None or ready(model))
    bar = tqdm(range(first, max_epochs + 1), desc=desc, unit="epoch", disable=not progress or done, leave=False,
               initial=first - 1, total=max_epochs)
    for epoch in (bar if not done else ()):
        model.train()
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad()
            xb, yb = x[idx].to(device), y[idx].to(device)
            loss = model.training_loss(xb, yb) if hasattr(model, "training_loss") else loss_fn(model(xb), yb)
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], clip)
            opt.step()
            if on_step is not None:
                on_step((epoch - 1) * -(-len(x) // batch_size) + i // batch_size + 1, model)
        acc = group_accuracy(model, vx, vy, vg, device)
        worst = min(acc.values())
        bar.set_postfix_str(f"worst group {worst:.3f}", refresh=False)
        if on_epoch is not None:
            results.append(on_epoch(epoch, model, acc))
        if path is not None:
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "generator": g.get_state(),
                     "torch_rng": torch.get_rng_state(), "epoch": epoch, "accuracy": acc, "results": results,
                     "seconds": spent + time.perf_counter() - start}
            write_atomic(path, lambda p: torch.save(state, p))
        if worst >= threshold and (ready is None or ready(model)):
            break
    bar.close()
    model.eval()
    is_ready = ready is None or bool(ready(model))
    reached = bool(acc) and min(acc.values()) >= threshold and is_ready
    return {"reached_target": reached, "ready": is_ready, "val_worst": min(acc.values()) if acc else 0.0,
            "threshold": threshold, "epochs": epoch,
            "seconds": round(spent + time.perf_counter() - start, 2), "accuracy_by_group": acc,
            "train_size": int(len(x)), "val_size": int(len(vx)), "epoch_results": results}


def predicted_classes(model: nn.Module, inputs: torch.Tensor, device: torch.device | str = "cpu",
                      batch_size: int = 512) -> list[int]:
    """The classes ``model`` predicts on ``inputs``, sorted: one class means a collapsed model
    (its accuracy is the class balance and its maps say nothing of the task).

    Example:
        >>> m = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
        >>> with torch.no_grad():
        ...     _ = m[1].weight.zero_(), m[1].bias.copy_(torch.tensor([0.0, 1.0]))  # the bias decides: class 1
        >>> predicted_classes(m, torch.randn(6, 4))
        [1]
    """
    model.eval()
    with torch.no_grad():
        preds = torch.cat([model(inputs[i:i + batch_size].to(device)).argmax(1).cpu()
                           for i in range(0, len(inputs), batch_size)])
    return sorted(int(c) for c in preds.unique())
