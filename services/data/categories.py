"""Category names are data: the safe-name rule every category passes, and MVTec-AD's own taxonomy, used only to
check a root that claims to be MVTec-AD."""

from __future__ import annotations

import re

from services.data.errors import DatasetError

CATEGORY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
CATEGORY_RULE = (
    "a category name is 1 to 64 letters, digits, '-' or '_', starting with a letter or digit "
    "(no spaces, dots, path separators or '..'), e.g. pcb_connector"
)

MVTEC_AD_CATEGORIES: dict[str, tuple[str, ...]] = {
    "bottle": ("broken_large", "broken_small", "contamination"),
    "cable": (
        "bent_wire",
        "cable_swap",
        "combined",
        "cut_inner_insulation",
        "cut_outer_insulation",
        "missing_cable",
        "missing_wire",
        "poke_insulation",
    ),
    "capsule": ("crack", "faulty_imprint", "poke", "scratch", "squeeze"),
    "carpet": ("color", "cut", "hole", "metal_contamination", "thread"),
    "grid": ("bent", "broken", "glue", "metal_contamination", "thread"),
    "hazelnut": ("crack", "cut", "hole", "print"),
    "leather": ("color", "cut", "fold", "glue", "poke"),
    "metal_nut": ("bent", "color", "flip", "scratch"),
    "pill": ("color", "combined", "contamination", "crack", "faulty_imprint", "pill_type", "scratch"),
    "screw": ("manipulated_front", "scratch_head", "scratch_neck", "thread_side", "thread_top"),
    "tile": ("crack", "glue_strip", "gray_stroke", "oil", "rough"),
    "toothbrush": ("defective",),
    "transistor": ("bent_lead", "cut_lead", "damaged_case", "misplaced"),
    "wood": ("color", "combined", "hole", "liquid", "scratch"),
    "zipper": (
        "broken_teeth",
        "combined",
        "fabric_border",
        "fabric_interior",
        "rough",
        "split_teeth",
        "squeezed_teeth",
    ),
}
"""The 15 categories of MVTec-AD and the defect folders each has under ``test/`` (besides ``good``)."""


def is_category_name(name: str) -> bool:
    """True when ``name`` passes :data:`CATEGORY_RULE`."""
    return CATEGORY_NAME.fullmatch(name) is not None


def check_category_name(name: str) -> str:
    """``name`` unchanged when it is a safe category name (it becomes a folder and file name); else a
    :class:`DatasetError` naming the value and the rule."""
    if not is_category_name(name):
        raise DatasetError(f"unsafe category name {name!r}: {CATEGORY_RULE}")
    return name
