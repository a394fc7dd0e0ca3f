"""SMERF's CNNs (Kim et al. 2021, App. A.2), in PyTorch.

simple: 3 convolutions (32, 64, 64 filters; 3×3, stride 2) → FC 200 → FC 2.
complex: 4 convolutions (64, 128, 256, 64; 3×3, stride 2) → FC 200 → FC 200 → FC 2.
ReLU everywhere but the output. Padding 1 (the paper does not say; with it a 64×64 input gives
8×8 and 4×4 maps). ``gradcam_layer`` names the last convolution.

:class:`CompactCNN` is our own, for quick CPU runs: three convolutions (32, 64, 64; the first two
stride 2) → global max pooling → FC 100 → FC 2. Every TextBox label is a function of which objects
are *present*, and a global max over a detector map is a presence test, so it learns the settings
in a few epochs: on Complex-CR1 (510 images a bucket, 2 cores) it passed every bucket at 0.95 in
8 epochs (58 s), where the paper's complex CNN stood at 0.17 after 6 epochs (168 s).
"""
from __future__ import annotations

from torch import nn

from ..errors import AttrlabError


def _convs(channels: list[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for c_in, c_out in zip(channels[:-1], channels[1:]):
        layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU()]
    return layers


class CompactCNN(nn.Module):
    """Example:
        >>> import torch
        >>> CompactCNN()(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 2])
    """

    gradcam_layer = "features.4"  # the last convolution

    def __init__(self, n_classes: int = 2, width: int = 64):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, width // 2, 3, stride=2, padding=1), nn.ReLU(),
                                      nn.Conv2d(width // 2, width, 3, stride=2, padding=1), nn.ReLU(),
                                      nn.Conv2d(width, width, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(width, 100), nn.ReLU(), nn.Linear(100, n_classes))

    def forward(self, x):
        return self.head(self.features(x).amax(dim=(2, 3)))


class SmerfCNN(nn.Sequential):
    """Example:
        >>> import torch
        >>> SmerfCNN("complex")(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 2])
    """

    def __init__(self, kind: str = "simple", size: int = 64, n_classes: int = 2):
        if kind == "simple":
            channels, hidden = [3, 32, 64, 64], [200]
        elif kind == "complex":
            channels, hidden = [3, 64, 128, 256, 64], [200, 200]
        else:
            raise AttrlabError(f"unknown SMERF model kind '{kind}'; use simple or complex")
        side = size
        for _ in channels[1:]:
            side = (side + 1) // 2
        layers = _convs(channels) + [nn.Flatten()]
        width = channels[-1] * side * side
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_classes))
        super().__init__(*layers)
        self.kind = kind
        self.gradcam_layer = str(2 * (len(channels) - 2))  # the last Conv2d's index in the Sequential
