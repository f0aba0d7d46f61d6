"""The two models compared by the pipeline: last week's chart and CatBoost.

``scoring.score_week`` is the one place later stages (playlists, A/B) turn a
model name into per-track scores.
"""
