"""Names of the Pozytywka dump format (DESIGN §3) that more than one part relies on.

The generator writes these names and ingest reads them; features and
playlists use the audio columns. Keeping them here is what lets a change of
the format show up in every stage that depends on it (dvc.yaml declares it).
"""

#: The five JSON-lines files of a dump (each ``.jsonl`` or ``.jsonl.gz``).
DUMP_FILES: tuple[str, ...] = ("artists", "tracks", "users", "sessions", "track_storage")

#: Audio features of ``tracks.jsonl``, in file order. Dumps may carry more
#: (ignored) or fewer (their columns are then missing).
AUDIO_FEATURES: tuple[str, ...] = (
    "danceability",
    "energy",
    "key",
    "loudness",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
)
