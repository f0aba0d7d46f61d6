"""Stage ``headline``: the few figures per product that DVC shows as metrics.

Reads the detail JSON of every product and writes ``metrics/headline/<product>.json``
(:func:`pozytywka.report.headline.headline`); the detail files stay plain outputs.
"""

from __future__ import annotations

import json

from .. import paths
from ..config import Params
from ..io import write_json
from ..report.headline import headline

DETAILS = {
    "offline": paths.METRICS / "offline.json",
    "playlists": paths.METRICS / "playlists.json",
    "playlist_sets": paths.PLAYLIST_SETS_METRICS,
    "ab": paths.METRICS / "ab.json",
    "skips": paths.METRICS / "skips.json",
    "cache": paths.METRICS / "cache.json",
    "recs": paths.METRICS / "recs.json",
    "data_quality": paths.DATA_QUALITY,
}
HEADLINE = paths.METRICS / "headline"


def run(params: Params) -> None:
    details = {name: json.loads(path.read_text(encoding="utf-8")) for name, path in DETAILS.items()}
    for product, figures in headline(details).items():
        write_json(HEADLINE / f"{product}.json", figures)
