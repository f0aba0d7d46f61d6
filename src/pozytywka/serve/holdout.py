"""The global holdout in the service (issue 23, ``docs/assignment.md``).

A listener whose holdout bucket is below ``ab.holdout``
(:func:`pozytywka.experiment.assign.arm_of` returns ``"H"``) is served the baseline,
arm A's output, in every experiment key. Their requests and exposure are logged
under the experiment key ``"<key>:holdout"`` with arm ``A`` (the store's arms are
A and B; the key keeps them out of the A/B read-out, which reads ``<key>`` only),
against an artifact of that key registered with arm A's model, version and tracks.
The read-out reports the holdout beside the arms (``holdout`` block).
"""

from __future__ import annotations

import datetime as dt

from .artifacts import Artifacts
from .store import Store

SUFFIX = ":holdout"


def holdout_key(experiment: str) -> str:
    """The experiment key the holdout of ``experiment`` is logged under."""
    return f"{experiment}{SUFFIX}"


def register_with_holdout(
    store: Store, arts: Artifacts, now: dt.datetime
) -> tuple[dict[str, int], int]:
    """Register the published arms (:meth:`Store.register_artifacts`) and the holdout's
    copy of arm A: ``(arm -> artifact_id, holdout artifact_id)``."""
    ids = store.register_artifacts(arts, now)
    a = arts.arms["A"]
    hid = store.register_items(
        holdout_key(arts.experiment),
        arts.week_start,
        "A",
        a.model,
        a.model_version,
        a.track_ids,
        now,
    )
    return ids, hid
