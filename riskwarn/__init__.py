"""riskwarn: area-level social-risk early warning.

The unit of analysis is always a grid (a small area with a population), never a
person. riskwarn reads no personal data, refuses input columns that identify
people, and names only grids in its outputs.
"""

__version__ = "0.1.0"
