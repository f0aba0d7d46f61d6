"""A/B test of the playlists: arm A serves the baseline's, arm B CatBoost's (DESIGN §5).

``assign`` splits users by a salted hash, ``simulate`` asks the synthetic
world's behaviour model what each user does with their arm's playlists,
``replay`` scores the arms against a real dump's held-out week, ``outcomes``
turns events into per-user counts, ``stats`` does the statistics and
``report`` writes the plots and the summary.
"""
