"""AnomalyLens service layer: all logic and I/O, no Streamlit import."""
