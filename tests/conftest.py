import os
import tempfile

import pytest
import torch
from torch import nn


def pytest_configure(config):
    # trained models go to a cache of this test session, never the user's ~/.cache/attrlab
    config._attrlab_cache = os.environ["ATTRLAB_CACHE"] = tempfile.mkdtemp(prefix="attrlab-test-cache-")
    # the suite trains and scores in this process as `attrlab` does in its own (attrlab/allocator.py)
    from attrlab.allocator import tune_allocator

    tune_allocator()


def pytest_unconfigure(config):
    import shutil

    shutil.rmtree(getattr(config, "_attrlab_cache", ""), ignore_errors=True)  # the session's models, gone with it


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


class TinyCNN(nn.Sequential):
    """3-class CNN on 3×8×8 images: two convolutions, ReLU, flatten, linear."""

    def __init__(self):
        super().__init__(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 3))


@pytest.fixture
def tiny_cnn():
    torch.manual_seed(0)
    return TinyCNN().eval()


@pytest.fixture
def tiny_batch():
    g = torch.Generator().manual_seed(1)
    return torch.rand(3, 3, 8, 8, generator=g), torch.tensor([0, 1, 2])
