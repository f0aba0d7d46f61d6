"""Pozytywka playlist lab: weekly popular playlists, proven against a baseline."""

__version__ = "0.1.0"
