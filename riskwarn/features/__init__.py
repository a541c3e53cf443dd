"""Features room: grid x as-of features with a plain-language manifest.

The public entry points are :func:`riskwarn.features.build.build_features` (a pandas
frame: the exact rows a model is fitted on or a watchlist is scored from) and
:func:`riskwarn.features.build.write_features` (Parquet, streamed).
"""
