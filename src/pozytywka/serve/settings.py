"""The service's settings: one frozen object read from the environment (12-factor).

- ``POZYTYWKA_STORE`` (default ``sqlite:///data/serving/log.sqlite``): the log's
  database URL; ``postgresql://user@host:port/db`` for PostgreSQL.
- ``POZYTYWKA_ADMIN_TOKEN`` (unset): bearer token of the ``/v1/admin`` routes;
  unset disables them.
- ``POZYTYWKA_ROOT`` (the working directory): the project root, holding
  ``dvc.lock``, ``params.yaml`` and ``reports/``.
- ``POZYTYWKA_CLOCK`` (``wall``): or ``manual``, a clock that starts at the
  published week's Monday 00:00 UTC and moves only by ``PUT /v1/admin/clock``
  (the traffic driver's simulation of a past week).
- ``POZYTYWKA_CLOCK_SKEW_S`` (``5``): an event up to this many seconds ahead of
  the service's clock is accepted (client clocks drift).
- ``POZYTYWKA_MAX_BODY_BYTES`` (``1048576``): a larger request body answers 413
  (a full batch of 1,000 events is about 250 kB).

A relative SQLite path is taken from the project root.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import PozytywkaError
from .body_limit import DEFAULT_MAX_BODY_BYTES

DEFAULT_STORE = "sqlite:///data/serving/log.sqlite"
CLOCKS = ("wall", "manual")


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from outside its code (see the module docstring)."""

    store_url: str = DEFAULT_STORE
    admin_token: str | None = None
    root: Path = Path(".")
    clock: str = "wall"
    clock_skew_s: float = 5.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if self.clock not in CLOCKS:
            raise PozytywkaError(
                f"POZYTYWKA_CLOCK must be one of {', '.join(CLOCKS)}, got {self.clock!r}"
            )
        if not self.store_url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
            raise PozytywkaError(
                f"POZYTYWKA_STORE must be a sqlite:/// or postgresql:// URL, got {self.store_url!r}"
            )
        if self.store_url.startswith("sqlite:") and (
            self.store_url.rstrip("/") in ("sqlite:", "sqlite:/") or ":memory:" in self.store_url
        ):
            raise PozytywkaError(
                f"POZYTYWKA_STORE={self.store_url!r} is an in-memory SQLite database: each "
                "connection would get its own, empty one, and every row is lost at exit; "
                "give a file (sqlite:///data/serving/log.sqlite)"
            )

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL: relative SQLite paths under ``root``, PostgreSQL via psycopg 3."""
        url = self.store_url
        if url.startswith("postgresql://"):
            return "postgresql+psycopg://" + url.removeprefix("postgresql://")
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
            return prefix + str((self.root / url.removeprefix(prefix)).resolve())
        return url

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Read :class:`Settings` from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    try:
        skew = float(env.get("POZYTYWKA_CLOCK_SKEW_S", "5"))
    except ValueError as exc:
        raise PozytywkaError(f"POZYTYWKA_CLOCK_SKEW_S must be a number: {exc}") from None
    raw_max = env.get("POZYTYWKA_MAX_BODY_BYTES") or str(DEFAULT_MAX_BODY_BYTES)
    if not raw_max.isdigit() or int(raw_max) < 1024:
        raise PozytywkaError(
            f"POZYTYWKA_MAX_BODY_BYTES must be an integer >= 1024, got {raw_max!r}"
        )
    return Settings(
        store_url=env.get("POZYTYWKA_STORE") or DEFAULT_STORE,
        admin_token=env.get("POZYTYWKA_ADMIN_TOKEN") or None,
        root=Path(env.get("POZYTYWKA_ROOT") or "."),
        clock=env.get("POZYTYWKA_CLOCK", "wall") or "wall",
        clock_skew_s=skew,
        max_body_bytes=int(raw_max),
    )
