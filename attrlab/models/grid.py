"""A trained single-image classifier made into a grid model (Rao, Böhle & Schiele, CVPR 2022, §3).

A grid is ``rows × cols`` cells, each one image of its own class. Three ways to classify it, one
module each; all take the grid ``(N, 3, rows·H, cols·W)`` and are built from one trained model
(copied, so that their hooks never touch the original):

- :class:`DiFull` — *disconnected*: the classifier runs on every cell alone, and the grid's output
  holds one head per cell position: output ``p·C + c`` is the logit of class ``c`` computed on cell
  ``p`` only. Nothing outside cell ``p`` reaches it, for any architecture, so an attribution for
  that output is *provably* wrong wherever it lands outside the cell (exact ground truth).
- :class:`DiPart` — *partly disconnected*: the layers up to ``split`` see the whole grid (their
  receptive fields cross cell borders), the rest run per cell with one head per position as in
  DiFull. The ground truth is nearly exact: only features within a receptive field of a border leak.
- :class:`GridPG` — the model sees the whole grid (the grid pointing game): output ``c`` is the
  model's logit for class ``c``; the cell of class ``c`` is only the *plausible* place to point to.
  It needs a model that takes any image size (global pooling, as ResNets and our CNN have).

Why per-position heads and not one output per class combined over cells: a sum of the cells'
logits for class ``c`` depends on every cell, and a maximum depends on which cell wins, so neither
makes the ground truth exact. The target of a DiFull sample is ``head(cell, class)``.

Layer-wise methods (Grad-CAM, LayerCAM, ... at the middle or final layer) must see a layer's
activations laid out as the grid, not as a batch of cells: :meth:`attribution_layer` returns a
*view* of an inner layer, an identity module that receives the cells' activations reassembled as
one grid map (and splits them back after), so any Captum layer method hooks it unchanged.

Example:
    >>> import torch
    >>> cell = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3, padding=1), torch.nn.AdaptiveAvgPool2d(1),
    ...                            torch.nn.Flatten(), torch.nn.Linear(2, 3))
    >>> grid = torch.rand(1, 3, 8, 16, requires_grad=True)           # one 1×2 grid of 8×8 cells
    >>> model = DiFull(cell, rows=1, cols=2, n_classes=3).eval()
    >>> model(grid).shape                                             # 2 positions × 3 classes
    torch.Size([1, 6])
    >>> model(grid)[0, head(1, 2, 3)].backward()                      # class 2 at the right cell
    >>> float(grid.grad[..., :8].abs().max()), bool(grid.grad[..., 8:].abs().max() > 0)
    (0.0, True)
"""
from __future__ import annotations

import copy
from collections import deque

import torch
from torch import nn

from ..errors import AttrlabError
from .layers import layer_name, probe_forward


def to_cells(x: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """``(N, C, rows·H, cols·W)`` → ``(N·rows·cols, C, H, W)``, cells in row-major order.

    Example:
        >>> x = torch.arange(16.).view(1, 1, 4, 4)
        >>> to_cells(x, 2, 2)[1, 0].tolist()
        [[2.0, 3.0], [6.0, 7.0]]
    """
    n, c, h, w = x.shape
    if h % rows or w % cols:
        raise AttrlabError(f"a {h}×{w} map does not split into {rows}×{cols} equal cells")
    H, W = h // rows, w // cols
    return x.reshape(n, c, rows, H, cols, W).permute(0, 2, 4, 1, 3, 5).reshape(n * rows * cols, c, H, W)


def from_cells(x: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """The inverse of :func:`to_cells`.

    Example:
        >>> x = torch.rand(2, 3, 4, 6)
        >>> bool((from_cells(to_cells(x, 2, 3), 2, 3) == x).all())
        True
    """
    k, c, H, W = x.shape
    n = k // (rows * cols)
    return x.reshape(n, rows, cols, c, H, W).permute(0, 3, 1, 4, 2, 5).reshape(n, c, rows * H, cols * W)


def head(cell: int, cls: int, n_classes: int) -> int:
    """The output index of class ``cls`` at cell position ``cell`` in a disconnected grid model."""
    return cell * n_classes + cls


def cell_masks(rows: int, cols: int, side: int) -> torch.Tensor:
    """``(rows·cols, rows·side, cols·side)`` booleans: each cell's pixels.

    Example:
        >>> cell_masks(1, 2, 2)[1].tolist()
        [[False, False, True, True], [False, False, True, True]]
    """
    masks = torch.zeros(rows * cols, rows * side, cols * side, dtype=torch.bool)
    for p in range(rows * cols):
        r, c = divmod(p, cols)
        masks[p, r * side:(r + 1) * side, c * side:(c + 1) * side] = True
    return masks


class _Reassemble:
    """The forward hook behind a layer view: the inner layer's cell activations, reassembled as the
    grid, pass through the view (where a layer method's hooks see them) and are split back. An
    object, not a closure, so that a deep copy of the grid model (DeepLIFT's) hooks its own view."""

    def __init__(self, owner: "_Grid", key: str, inner: str):
        self.owner, self.key, self.inner = owner, key, inner

    def __call__(self, module, _inp, out):
        owner = self.owner
        if owner._bypass:
            return None
        if not isinstance(out, torch.Tensor) or out.dim() != 4:
            raise AttrlabError(f"layer '{self.inner}' gives no spatial map (N×C×H×W); choose another layer")
        grid = owner.views[self.key](from_cells(out, owner.rows, owner.cols))
        return to_cells(grid, owner.rows, owner.cols)


class _Grid(nn.Module):
    """What the three grid models share: the copied classifier, the grid's shape, layer views."""

    kind = ""

    def __init__(self, model: nn.Module, rows: int, cols: int, n_classes: int):
        super().__init__()
        self.model = copy.deepcopy(model)
        self.rows, self.cols, self.n_classes = int(rows), int(cols), int(n_classes)
        self.views = nn.ModuleDict()
        self._names: dict[str, str] = {}  # role or inner name -> inner layer name
        self._bypass = False  # while a layer is looked up on one plain cell, the hooks stand aside

    def cells(self, grid: torch.Tensor) -> torch.Tensor:
        return to_cells(grid, self.rows, self.cols)

    def inner_layer(self, which: str, inputs: torch.Tensor) -> str:
        """The inner model's layer that ``which`` (a role or an inner name) stands for, found on one cell."""
        if which not in self._names:
            self._bypass = True
            try:
                self._names[which] = layer_name(self.model, self.cells(inputs[:1])[:1], which)
            finally:
                self._bypass = False
        return self._names[which]

    def _view(self, inner: str) -> nn.Module:
        """An identity module that sees the inner layer ``inner``'s cell activations as one grid map."""
        key = inner.replace(".", "__") or "root"
        if key not in self.views:
            self.views[key] = nn.Identity()
            self.model.get_submodule(inner).register_forward_hook(_Reassemble(self, key, inner))
        return self.views[key]

    def attribution_layer(self, which: str, inputs: torch.Tensor) -> nn.Module:
        """The module a layer method hooks for ``which`` (``final``, ``middle`` or an inner layer's
        name): a grid-shaped view of the inner layer (see the module doc)."""
        return self._view(self.inner_layer(which or "final", inputs))

    def extra_repr(self) -> str:
        return f"{self.kind}, {self.rows}×{self.cols} cells, {self.n_classes} classes"


class DiFull(_Grid):
    """Every cell classified alone; output ``head(p, c)`` sees cell ``p`` only (exact ground truth)."""

    kind = "difull"

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        logits = self.model(self.cells(grid))
        return logits.reshape(grid.shape[0], self.rows * self.cols * self.n_classes)


class DiPart(_Grid):
    """The layers up to ``split`` (a role or an inner layer's name) see the whole grid, the rest one
    cell: output ``head(p, c)`` sees cell ``p`` and what the early receptive fields reach across
    its border."""

    kind = "dipart"

    def __init__(self, model: nn.Module, rows: int, cols: int, n_classes: int, split: str, example: torch.Tensor):
        super().__init__(model, rows, cols, n_classes)
        self.front = copy.deepcopy(model)
        self.split = self.inner_layer(split, example)
        self._grid_activation: deque = deque()
        self._before_split: list | None = None
        self.front.get_submodule(self.split).register_forward_hook(self._keep)
        self.model.get_submodule(self.split).register_forward_hook(self._swap)
        self._check_split(example[:1])

    def _check_split(self, example: torch.Tensor) -> None:
        """The split must run once per forward and give the grid's map as the cells' maps side by
        side (a cell side the model's stride divides); else one line that says what to change."""
        calls = []
        handle = self.model.get_submodule(self.split).register_forward_hook(lambda m, i, o: calls.append(o))
        self._bypass = True
        try:
            with torch.no_grad():
                self.model(self.cells(example))
                grid = self._run_front(example)
        finally:
            self._bypass = False
            handle.remove()
            self._grid_activation.clear()
        if len(calls) != 1:
            raise AttrlabError(f"dipart: layer '{self.split}' runs {len(calls)} times in one forward; split at a "
                               "layer that runs once (e.g. final, middle, or a block's name)")
        cell = calls[0]
        if not isinstance(grid, torch.Tensor) or grid.dim() != 4 or cell.dim() != 4 or \
                tuple(grid.shape[-2:]) != (cell.shape[-2] * self.rows, cell.shape[-1] * self.cols):
            shape = tuple(grid.shape) if isinstance(grid, torch.Tensor) else type(grid).__name__
            raise AttrlabError(f"dipart: layer '{self.split}' gives {shape} on the grid but "
                               f"{tuple(cell.shape)} on a cell, not {self.rows}×{self.cols} cells' maps side by side; "
                               "choose a cell side the model's stride divides (e.g. a multiple of 32 for ResNets)")

    def _keep(self, module, _inp, out):
        self._grid_activation.append(out)

    def _swap(self, module, _inp, out):
        if self._bypass:
            return None
        if not self._grid_activation:
            raise AttrlabError(f"dipart: layer '{self.split}' ran per cell without its grid activation")
        return to_cells(self._grid_activation.popleft(), self.rows, self.cols)

    def _run_front(self, grid: torch.Tensor):
        """The front's activation at the split on the whole grid. The front runs to its end (its
        output is not used): stopping it at the split with an exception would cut the split
        layer's own hooks short (measured: guided backprop's and DeepLIFT's rules at a ReLU split,
        zennit's at a convolution). A layer after the split that cannot take the grid's size (a
        classifier on flattened features) fails harmlessly there."""
        self._grid_activation.clear()
        try:
            self.front(grid)
        except RuntimeError:
            if not self._grid_activation:
                raise
        if not self._grid_activation:
            raise AttrlabError(f"dipart: layer '{self.split}' did not run on the whole grid")
        return self._grid_activation[0]

    def _front_layers(self, inputs: torch.Tensor) -> list[str]:
        """The front's modules that finish by the split (inside it, or before it) on one grid;
        found once (every job's layer method asks)."""
        if self._before_split is None:
            names = {m: n for n, m in self.front.named_modules() if n}
            order: list[str] = []
            try:
                probe_forward(self._run_front, inputs, names, lambda mod, i, o: order.append(names[mod]))
            finally:
                self._grid_activation.clear()
            self._before_split = order[:order.index(self.split) + 1]
        return self._before_split

    def attribution_layer(self, which: str, inputs: torch.Tensor) -> nn.Module:
        """A layer that runs before the split, the split itself or one inside it is the front's own
        (it sees the grid); a later one is a grid view of the per-cell layer."""
        inner = self.inner_layer(which or "final", inputs)
        if inner in self._front_layers(inputs):
            return self.front.get_submodule(inner)
        return self._view(inner)

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        self._run_front(grid)
        logits = self.model(self.cells(grid))
        self._grid_activation.clear()
        return logits.reshape(grid.shape[0], self.rows * self.cols * self.n_classes)


class GridPG(_Grid):
    """The model on the whole grid: output ``c`` is its logit for class ``c`` (plausible ground truth)."""

    kind = "gridpg"

    def attribution_layer(self, which: str, inputs: torch.Tensor) -> nn.Module:
        inner = self.inner_layer(which or "final", inputs)
        return self.model.get_submodule(inner)

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        try:
            out = self.model(grid)
        except RuntimeError as exc:
            raise AttrlabError(f"the model fails on a whole grid {tuple(grid.shape)} ({str(exc).splitlines()[0][:120]}); "
                               "gridpg needs one that takes any image size (global pooling before its classifier), "
                               "else use the settings difull and dipart") from None
        if out.dim() != 2 or out.shape[1] != self.n_classes:
            raise AttrlabError(f"the model gives {tuple(out.shape)} on a whole grid; gridpg needs one that takes any "
                               "image size (global pooling before its classifier), else use setting difull")
        return out

