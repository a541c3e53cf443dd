"""Models room: estimators that score grids from feature frames (no file access)."""
