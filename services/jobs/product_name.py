"""The product (category) name a user gives: a safe slug, usable as a folder name and a registry key."""

from __future__ import annotations

import re

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_product_name(name: str) -> str:
    """``name`` when it is 1–64 letters, digits, ``-`` or ``_`` starting with a letter or digit; else ValueError."""
    if not NAME.match(name):
        raise ValueError(
            f"product name {name!r} is not accepted: use 1 to 64 letters, digits, '-' or '_', starting with a letter "
            "or digit (no spaces, path separators or '..')"
        )
    return name
