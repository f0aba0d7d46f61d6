"""One APIRouter per concern: health, playlists, events, experiments, admin."""
