"""Recommenders with one interface (:class:`~.base.Recommender`), keyed by name."""

from __future__ import annotations

from .base import Recommender, top_k
from .ease import EASE
from .factors import ALS, PureSVD
from .knn import ItemKNN
from .popularity import Popularity, PopularityGenres

MODELS: dict[str, type[Recommender]] = {
    m.name: m for m in (Popularity, PopularityGenres, ItemKNN, EASE, ALS, PureSVD)
}
#: Models that learn from each listener's own history (candidate generators).
PERSONAL = ("itemknn", "ease", "als", "svd")
FALLBACK = "popularity_genres"

__all__ = ["MODELS", "PERSONAL", "FALLBACK", "Recommender", "top_k"]
