"""Skip prediction for caching (DESIGN §10): will this listener play this track to the end?

``target`` (one row per play, the full-play rule of :mod:`pozytywka.plays`),
``features`` (known when the play starts), ``baselines`` and ``model`` (CatBoost),
``evaluate`` (rolling weeks), ``cache`` (what the predictions are worth in a cache),
``online`` (the same features and models for one play at a time, for the service).
"""
