"""riskwarn: area-level social-risk early warning.

The unit of analysis is always a grid (a small area with a population), never a
person. riskwarn reads no personal data, refuses input columns that identify
people, and names only grids in its outputs.
"""

__version__ = "0.1.0"

import os as _os

# OpenMP threads that spin while waiting (the default) make LightGBM hundreds of
# times slower as soon as another process wants the same cores (measured: 0.1 s
# became 31 s for 100 rounds on a busy 2-core machine). Passive waiting costs
# nothing measurable when the machine is idle. Set before any OpenMP library
# loads; a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
