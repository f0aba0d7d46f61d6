"""The real-data scoreboard: every product on every real dump (docs/scoreboard.md)."""

from pathlib import Path

#: The folder of real dump folders the scoreboard and the realism report read by
#: default (``make scoreboard DUMPS=...``, ``--dumps-dir``): the team's, beside the project.
DEFAULT_DUMPS = Path("../shared/dumps")
