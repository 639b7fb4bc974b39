"""Tests for services.modeling.patchcore.left_out: normals scored without their look-alike group's bank rows."""

from __future__ import annotations

import math

import pytest
import torch
from anomalib.models.image.patchcore.torch_model import PatchcoreModel

from services.modeling.patchcore.left_out import LeftOutError, leave_group_out, split_images

SQUARE = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
"""One image's four patches (a 2 x 2 feature map) in a 2-D feature space."""


def _twins() -> torch.Tensor:
    """Two parts shot twice each: images 0 and 1 are the square and a copy moved by 0.1, images 2 and 3 the same
    moved by (10, 10). Patches image after image, as anomalib stores them."""
    shift, far = torch.tensor([0.1, 0.0]), torch.tensor([10.0, 10.0])
    return torch.cat([SQUARE, SQUARE + shift, SQUARE + far, SQUARE + far + shift])


@pytest.fixture(scope="module")
def model() -> PatchcoreModel:
    return PatchcoreModel(layers=["blocks.2"], backbone="tf_efficientnet_lite0", pre_trained=False, num_neighbors=1)


def test_a_twin_in_the_bank_flatters_and_its_group_left_out_does_not(model: PatchcoreModel) -> None:
    embedding = _twins()
    model.memory_bank = embedding.clone()
    rows = torch.arange(len(embedding))
    one_out, _ = leave_group_out(model, embedding, rows, 4, (64, 64), n_groups=4)
    assert one_out.image == pytest.approx((0.1, 0.1, 0.1, 0.1), abs=1e-4), "each patch's twin lies 0.1 away"
    grouped, groups = leave_group_out(model, embedding, rows, 4, (64, 64), n_groups=2)
    assert groups.image_groups[0] == groups.image_groups[1] != groups.image_groups[2] == groups.image_groups[3]
    # image 0's patch (0, 0) is farthest from the other part: its nearest patch there is (10, 10), 10·√2 away
    assert grouped.image[0] == pytest.approx(10 * math.sqrt(2), rel=1e-5)
    # image 2's patch (11, 11) is farthest from the first part: nearest (1.1, 1), √(9.9² + 10²) away
    assert grouped.image[2] == pytest.approx(math.hypot(9.9, 10.0), rel=1e-5)
    assert torch.equal(model.memory_bank, embedding), "the full bank is restored"


def test_a_new_image_falls_in_the_group_it_resembles(model: PatchcoreModel) -> None:
    embedding = _twins()
    model.memory_bank = embedding.clone()
    _, groups = leave_group_out(model, embedding, torch.arange(len(embedding)), 4, (64, 64), n_groups=2)
    assert groups.group_of(SQUARE + torch.tensor([10.0, 9.9])) == groups.image_groups[2]
    assert groups.group_of(SQUARE + torch.tensor([0.0, 0.2])) == groups.image_groups[0]


def test_patches_that_do_not_split_into_square_maps_are_refused() -> None:
    with pytest.raises(LeftOutError, match="6 patches do not split into 2 square feature maps"):
        split_images(torch.zeros(6, 2), 2)
    with pytest.raises(LeftOutError, match="into 0 square"):
        split_images(torch.zeros(4, 2), 0)
