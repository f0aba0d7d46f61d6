"""The real-data scoreboard: every product on every real dump (docs/scoreboard.md)."""
