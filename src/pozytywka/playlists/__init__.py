"""Popular playlists: weekly features, models, backtest and publishing (DESIGN §4)."""
