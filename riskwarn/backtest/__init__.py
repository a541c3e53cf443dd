"""Backtest room: rolling-origin evaluation and the metrics of early warning."""
