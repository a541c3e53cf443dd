"""Reports room: the self-contained HTML watchlist report for policy staff."""
