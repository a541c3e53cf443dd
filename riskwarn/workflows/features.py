"""``riskwarn features``: validate a dataset and write its feature matrix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from riskwarn.atomic import write_text_atomic
from riskwarn.config import Config
from riskwarn.features.build import (
    FeatureBuilder,
    prepare_features,
)
from riskwarn.workflows.common import (
    ValidatedData,
    validate_data,
)


def build_feature_file(
    data_dir: str | Path,
    config: Config,
    out: str | Path,
    *,
    labels: bool = False,
    as_of: str | None = None,
    engine: str = "duckdb",
    progress: Callable[[str], None] | None = None,
) -> tuple[Path, FeatureBuilder, ValidatedData]:
    """Validate ``data_dir``, build its features and write them to ``out`` (Parquet).

    The manifest is written beside it as ``<out stem>.manifest.json``. The returned
    builder's engine is closed: its plan, manifest and periods remain.
    """
    validated = validate_data(data_dir, config, progress=progress)
    if progress:
        progress("loading tables into the engine")
    builder = prepare_features(validated.dataset, config, graph=validated.graph, engine=engine)
    if progress:
        progress(f"building {len(builder.manifest)} features")
    try:
        path = builder.write_parquet(out, as_of=as_of, labels=labels)
    finally:
        # Frees DuckDB, or Spark's staged stages (gigabytes at province scale).
        builder.close()
    manifest_path = Path(out).with_suffix("").with_suffix(".manifest.json")
    write_text_atomic(manifest_path, builder.manifest.to_json() + "\n")
    return path, builder, validated
