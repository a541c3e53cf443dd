"""Panel room: the grid graph and (later) the grid x period index."""
