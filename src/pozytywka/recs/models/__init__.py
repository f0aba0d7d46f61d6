"""Recommenders with one interface (:class:`~.base.Recommender`), keyed by name."""

from __future__ import annotations

from .base import Recommender, top_k
from .ease import EASE
from .factors import ALS, PureSVD
from .knn import ItemKNN
from .popularity import OwnMostPlayed, Popularity, PopularityAll, PopularityGenres

MODELS: dict[str, type[Recommender]] = {
    m.name: m
    for m in (
        PopularityAll,
        Popularity,
        PopularityGenres,
        OwnMostPlayed,
        ItemKNN,
        EASE,
        ALS,
        PureSVD,
    )
}
#: Models that learn from each listener's own history (candidate generators).
PERSONAL = ("itemknn", "ease", "als", "svd")
FALLBACK = "popularity_genres"
#: The baselines every model is compared with (the strongest of them per dump, chosen on
#: the validation weeks); in this order on equal scores.
BASELINES = ("popularity_all", "popularity", "popularity_genres", "own_most_played")

__all__ = ["BASELINES", "MODELS", "PERSONAL", "FALLBACK", "Recommender", "top_k"]
