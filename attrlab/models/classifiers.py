"""Image classifiers trained on semi-natural data (Zhou et al. 2022, §5).

``small``: our fast CPU default, four 3×3 conv + batch-norm + ReLU blocks (16, 32, 64, 64
channels, max pooling between them) → global average pooling → linear: fully convolutional like
ResNet, so Grad-CAM on its last block is CAM, as in the paper. ``resnet34``: torchvision's
ResNet-34, randomly initialised (the paper's model), behind ImageNet mean/std normalisation so that
every model takes images in [0, 1] and attributions are in pixel space.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import AttrlabError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MODELS = ("small", "resnet34")


class Normalize(nn.Module):
    """``(x − mean) / std`` per channel, as a layer."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class SmallCNN(nn.Module):
    """Example:
        >>> SmallCNN()(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 2])
    """

    gradcam_layer = "features.14"  # the last block's ReLU

    def __init__(self, n_classes: int = 2, widths=(16, 32, 64, 64)):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for k, c in enumerate(widths):
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            if k < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, n_classes)

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=(2, 3)))


def build_classifier(name: str, n_classes: int = 2) -> nn.Module:
    """``small``, ``resnet34`` or ``resnet18`` (torchvision's), randomly initialised.

    Example:
        >>> build_classifier("small").gradcam_layer
        'features.14'
    """
    if name == "small":
        return SmallCNN(n_classes)
    if name in ("resnet34", "resnet18"):
        try:
            from torchvision import models
        except Exception as exc:  # torchvision missing or not importable beside this torch
            raise AttrlabError(f"model {name} needs torchvision ({exc}); use model=small") from None
        model = nn.Sequential(Normalize(), getattr(models, name)(weights=None, num_classes=n_classes))
        model.gradcam_layer = "1.layer4"
        return model
    raise AttrlabError(f"unknown classifier '{name}'; choose one of {', '.join(MODELS)}")
