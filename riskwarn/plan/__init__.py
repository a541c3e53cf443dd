"""The plan: which grids the teams can take this period (capacity), kept stable
(hold and hysteresis), and how much a plan churns over a backtest."""
