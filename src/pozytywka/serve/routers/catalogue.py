"""``/v1/catalogue``: read-only questions about the ingested catalogue (:mod:`..catalogue`).

Lists are paginated (``limit`` 1-100, default 20; ``offset`` 0-100,000) and say
how many rows match (``total``). A year outside the catalogue's release years or
an unknown genre is a 422 with the reason; no catalogue files is a 503.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Generic, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from ..catalogue import Catalogue, CatalogueError, Page

router = APIRouter(prefix="/v1/catalogue", tags=["catalogue"])
T = TypeVar("T")

MAX_LIMIT = 100
MAX_OFFSET = 100_000


def get_catalogue(request: Request) -> Catalogue:
    cat = getattr(request.app.state, "catalogue", None)
    if cat is None:
        reason = getattr(request.app.state, "catalogue_error", "catalogue not loaded")
        raise HTTPException(status_code=503, detail=reason)
    return cat


CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page (1-100)")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip (0-100000)")]
Text = Annotated[str, Query(min_length=1, max_length=100, description="Part of the name, any case")]
Year = Annotated[
    int, Query(ge=1000, le=9999, description="Release year (within the catalogue's years)")
]
Genre = Annotated[str, Query(min_length=1, max_length=100, description="Genre, e.g. 'dance pop'")]


class CatalogueTrack(BaseModel):
    track_id: str = Field(description="Track id, as in the dump's tracks.jsonl")
    name: str | None = Field(description="Track title")
    artist: str | None = Field(description="Artist name")
    year: int | None = Field(description="Release year")
    popularity: float | None = Field(description="The dump's catalogue popularity, 0-100")
    duration_ms: int | None = Field(description="Duration in milliseconds")
    explicit: int | None = Field(description="1 = explicit lyrics, 0 = not")


class WeekTrack(CatalogueTrack):
    week_popularity: int = Field(
        description="Listeners with a full play in the week (DESIGN §4 track popularity)"
    )
    week_start: dt.date = Field(description="Monday (UTC) of that week: the last in the data")


class CatalogueArtist(BaseModel):
    artist_id: str = Field(description="Artist id, as in the dump's artists.jsonl")
    name: str | None = Field(description="Artist name")
    genres: list[str] | None = Field(description="The artist's genres (lower case)")
    tracks: int = Field(description="Tracks of the artist in the catalogue")


class GenreCount(BaseModel):
    genre: str = Field(description="Genre (lower case)")
    tracks: int = Field(description="Tracks of the year in the genre above the popularity")


class TopArtist(BaseModel):
    artist_id: str = Field(description="Artist id")
    name: str | None = Field(description="Artist name")
    tracks: int = Field(description="Tracks of the artist in the genre and year")


class CatalogueInfo(BaseModel):
    genres: list[str] = Field(description="Every genre of the catalogue (lower case, sorted)")
    first_year: int = Field(description="Earliest release year")
    last_year: int = Field(description="Latest release year")
    last_week: dt.date | None = Field(description="Monday of the last week with popularity")


class Paged(BaseModel, Generic[T]):
    """One page of an ordered list."""

    total: int = Field(description="Rows that match (all pages)")
    limit: int = Field(description="Rows per page asked for")
    offset: int = Field(description="Rows skipped")
    items: list[T] = Field(description="This page's rows, in the list's order")


def _paged(page: Page, limit: int, offset: int) -> dict:
    return {"total": page.total, "limit": limit, "offset": offset, "items": page.rows}


def _ask(fn, *args):
    """Run a catalogue question; a :class:`CatalogueError` becomes a 422 with its reason."""
    try:
        return fn(*args)
    except CatalogueError as exc:
        raise HTTPException(status_code=422, detail=[str(exc)]) from None


_422 = {422: {"description": "A bad parameter, with the reason"}}


@router.get("", response_model=CatalogueInfo, summary="The genres and years one can ask about")
def info(cat: CatalogueDep) -> CatalogueInfo:
    return CatalogueInfo(
        genres=sorted(cat.genres),
        first_year=cat.years[0],
        last_year=cat.years[1],
        last_week=cat.last_week,
    )


@router.get("/tracks", response_model=Paged[CatalogueTrack], summary="Search tracks by name")
def search_tracks(cat: CatalogueDep, q: Text, limit: Limit = 20, offset: Offset = 0):
    """Most popular (catalogue popularity) first, then by name."""
    return _paged(cat.search_tracks(q, limit, offset), limit, offset)


@router.get("/artists", response_model=Paged[CatalogueArtist], summary="Search artists by name")
def search_artists(cat: CatalogueDep, q: Text, limit: Limit = 20, offset: Offset = 0):
    """Artists with the most tracks first, then by name."""
    return _paged(cat.search_artists(q, limit, offset), limit, offset)


@router.get(
    "/genres/top-tracks",
    response_model=Paged[WeekTrack],
    responses=_422,
    summary="A genre's top tracks by last week's popularity",
)
def genre_top(cat: CatalogueDep, genre: Genre, limit: Limit = 20, offset: Offset = 0):
    """Last week = the latest week of ``data/processed/weekly_popularity.parquet``."""
    return _paged(_ask(cat.genre_top, genre, limit, offset), limit, offset)


@router.get(
    "/genres/counts",
    response_model=Paged[GenreCount],
    responses=_422,
    summary="Tracks per genre released in a year above a catalogue popularity",
)
def genre_counts(
    cat: CatalogueDep,
    year: Year,
    min_popularity: Annotated[
        float, Query(ge=0, le=100, description="Count tracks with popularity strictly above")
    ] = 0,
    limit: Limit = 20,
    offset: Offset = 0,
):
    return _paged(_ask(cat.genre_counts, year, min_popularity, limit, offset), limit, offset)


@router.get(
    "/longest-track",
    response_model=CatalogueTrack | None,
    responses=_422,
    summary="The longest track released in a year",
)
def longest(
    cat: CatalogueDep,
    year: Year,
    genre: Annotated[str | None, Query(max_length=100, description="Only this genre")] = None,
    explicit: Annotated[
        bool | None, Query(description="Only explicit (true) or clean (false) tracks")
    ] = None,
):
    """``null`` when no track matches the filters."""
    return _ask(cat.longest, year, genre, explicit)


@router.get(
    "/top-artist",
    response_model=TopArtist | None,
    responses=_422,
    summary="The artist with the most tracks in a genre and year",
)
def top_artist(cat: CatalogueDep, genre: Genre, year: Year):
    """Ties go to the artist's name, alphabetically; ``null`` when the genre has no track
    released that year."""
    return _ask(cat.top_artist, genre, year)
