"""Scoring room: the watchlist a registered model writes for dashboards."""
