"""``/v1/admin``: operator routes behind ``POZYTYWKA_ADMIN_TOKEN`` (absent: the routes are 404).

``PUT /v1/admin/clock`` moves the manual clock (``POZYTYWKA_CLOCK=manual``) forward.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException

from ..deps import ClockDep, SettingsDep
from ..schemas import ClockIn, ClockOut

router = APIRouter(prefix="/v1/admin", tags=["admin"])


def require_admin(
    settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Bearer ``POZYTYWKA_ADMIN_TOKEN``; 404 when no token is configured, 401 when wrong."""
    if not settings.admin_token:
        raise HTTPException(status_code=404, detail="admin routes are disabled")
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not secrets.compare_digest(given.encode(), settings.admin_token.encode()):
        raise HTTPException(status_code=401, detail="bad or missing admin token")


Admin = Annotated[None, Depends(require_admin)]


@router.put("/clock", response_model=ClockOut, summary="Move the manual clock forward")
def set_clock(body: ClockIn, clock: ClockDep, _admin: Admin) -> ClockOut:
    if not clock.manual:
        raise HTTPException(status_code=409, detail="the service runs on the wall clock")
    try:
        now = clock.set(body.now)
    except ValueError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return ClockOut(now=now, manual=True)
