"""The product gate's answer for an upload that does not look like the model's product: said instead of a verdict."""

from __future__ import annotations

import streamlit as st

from services.inference.detector import Prediction
from services.training.product_gate import ForeignCheck


def message(check: ForeignCheck) -> str:
    """What the page says about an upload the product gate turned away."""
    return f"Does not look like a **{check.product}** part — wrong product or camera? No defect verdict is given."


def render(prediction: Prediction) -> bool:
    """The notice where the gate fired (and nothing otherwise); whether it fired, so the caller skips the verdict."""
    check = prediction.foreign
    if check is None or not check.is_foreign:
        return False
    st.warning(message(check), icon=":material/block:")
    st.caption(
        f"Image descriptor distance {check.distance:.3f} to the nearest normal {check.product} image, above the "
        f"product gate's {check.threshold:.3f} (fitted to normal images only)."
    )
    return True
