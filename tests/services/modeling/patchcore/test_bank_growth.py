"""Growing a memory bank: k-center greedy continued from the bank, on points placed by hand."""

from __future__ import annotations

import pytest
import torch

from services.modeling.patchcore.bank_growth import farthest_from_bank, nearest_distance, rows_per_image


def test_nearest_distance_is_to_the_closest_bank_row_in_any_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.modeling.patchcore.bank_growth.DISTANCE_CHUNK", 2)
    bank = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    patches = torch.tensor([[3.0, 4.0], [10.0, 1.0], [7.0, 0.0]])
    assert nearest_distance(patches, bank).tolist() == pytest.approx([5.0, 1.0, 3.0])


def test_the_farthest_patch_from_the_bank_comes_first_then_the_farthest_from_both() -> None:
    bank = torch.tensor([[0.0, 0.0]])
    patches = torch.tensor([[1.0, 0.0], [10.0, 0.0], [9.0, 0.0], [0.0, 6.0]])
    # distances to the bank 1, 10, 9, 6: patch 1 first; then to {bank, patch 1}: 1, 0, 1, 6 -> patch 3; then 1, 0, 1, 0
    assert farthest_from_bank(patches, bank, 3).tolist() == [1, 3, 0]


def test_selection_stops_once_every_patch_is_on_a_chosen_or_bank_row() -> None:
    bank = torch.tensor([[0.0, 0.0]])
    patches = torch.tensor([[0.0, 0.0], [2.0, 0.0], [2.0, 0.0]])
    assert farthest_from_bank(patches, bank, 5).tolist() == [1]


def test_one_image_adds_its_patches_times_the_coreset_ratio_rounded_up() -> None:
    assert rows_per_image(64, 0.2) == 13
    assert rows_per_image(4096, 0.025) == 103
    assert rows_per_image(10, 0.01) == 1
