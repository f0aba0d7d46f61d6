"""The pull-request report (`pozytywka report`): what a change did to the models and playlists.

``gitrev`` reads files at a git revision, ``dvcdiff`` runs DVC's params and metrics
diffs, ``compare`` holds the before/after logic (regressions, playlist changes),
``lockcheck`` compares the committed dvc.lock with a fresh one, ``plots`` renders
before/after PNGs and ``build`` assembles the Markdown.
"""
