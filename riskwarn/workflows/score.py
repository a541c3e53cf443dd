"""``riskwarn score``: score every grid at an as-of date with a registered model.

The engine (embedded DuckDB, or Spark for a province) is one entry of
:data:`SCORING_ENGINES`: both take the same arguments and give a :class:`ScoreOutput`,
so the command has no engine branches of its own."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from riskwarn.config import with_drop_pii
from riskwarn.errors import RiskwarnError
from riskwarn.features.build import (
    prepare_features,
)
from riskwarn.panel.unobserved import gap_line, recent_gaps
from riskwarn.workflows.common import (
    ScoreOutput,
    features_for,
    validate_data,
)


def score_files(
    data_dir: str | Path,
    model_uri: str,
    as_of: str,
    out: str | Path,
    *,
    tracking_uri: str | None = None,
    allow_pickle: bool = False,
    status: Callable[[str], None] | None = None,
    engine: str = "duckdb",
    sink: str | None = None,
    config: str | Path | None = None,
    drop_pii: bool = False,
) -> ScoreOutput:
    """Score every grid at ``as_of`` with a registered model; write the watchlist files.

    ``engine="spark"`` builds the features on Spark, scores them with the model as a
    Spark UDF, writes every grid to ``out/watchlist_all/`` (Parquet partitioned by
    as-of date) and the tiered grids to the usual files.

    ``sink`` (else ``RISKWARN_SINK``, else the model config's ``[sink] url``) is a
    PostgreSQL database that also receives every grid's row and the card, in one
    transaction (:mod:`riskwarn.scoring.sink`); it is checked before anything is scored.

    ``config``: a TOML file whose ``[watchlist]`` (tiers, capacity, hold …) and ``[sink]``
    replace the model's own, for settings that change without retraining.

    ``drop_pii``: drop the columns that identify people instead of stopping (a model
    trained with ``[data] drop_pii`` does so anyway).
    """
    from riskwarn.atomic import FolderBusy, folder_lock
    from riskwarn.tracking.registry import load_registered
    from riskwarn.tracking.store import connect

    if engine not in SCORING_ENGINES:
        raise RiskwarnError(f"engine {engine!r}: use {' or '.join(SCORING_ENGINES)}.")
    connect(tracking_uri)
    if status:
        status(f"loading {model_uri}")
    # The checked files stay until the scoring is done: an engine that loads the
    # model from its files (the Spark UDF) loads the copy that was checked.
    with tempfile.TemporaryDirectory(prefix="riskwarn-model-") as keep:
        model = load_registered(model_uri, allow_pickle=allow_pickle, keep_in=keep)
        model.bundle.config = with_drop_pii(model.bundle.config, drop_pii)
        settings = _settings(model.bundle.config, config)
        target = _open_sink(sink, settings, status)
        try:
            with folder_lock(out):
                _refuse_going_back(out, as_of)
                output = SCORING_ENGINES[engine](
                    data_dir, model, as_of, out, status=status, watch=settings.watchlist
                )
                if target is not None:
                    if status:
                        status(f"writing {output.n_grids:,} rows into {target.shown}")
                    output.sink_rows = target.write(
                        output.every_grid(), output.card, grids=output.grids
                    )
                return output
        except FolderBusy:
            raise RiskwarnError(
                f"another riskwarn score is writing into {out}; let it finish (its watchlist "
                "will be complete), then score again, or score into another --out."
            ) from None
        finally:
            if target is not None:
                target.close()


def _refuse_going_back(out: str | Path, as_of: str) -> None:
    """Stop when ``out`` already holds a watchlist of a later as-of date.

    The folder's watchlist is what dashboards show as current: scoring an earlier
    date into it would put an old list in front of them.
    """
    from riskwarn.scoring.files import latest_dated

    latest = latest_dated(out)
    try:
        day = pd.Timestamp(as_of).tz_localize(None).normalize()
    except (ValueError, TypeError):
        return  # the as-of check proper says what is wrong with it
    if latest is not None and day < latest:
        raise RiskwarnError(
            f"{out} already holds the watchlist as of {latest:%Y-%m-%d}, later than "
            f"{day:%Y-%m-%d}: scoring the earlier date there would make it the current "
            "watchlist that dashboards read. Score it into another folder (--out), e.g. "
            f"{Path(out) / 'earlier' / f'{day:%Y-%m-%d}'}."
        )


def _settings(model_config, path):
    """The model's config, its ``[watchlist]`` and ``[sink]`` replaced by ``path``'s."""
    import dataclasses

    from riskwarn.config import load_config

    if path is None:
        return model_config
    given = load_config(path)
    return dataclasses.replace(model_config, watchlist=given.watchlist, sink=given.sink)


def _open_sink(flag: str | None, config, status):
    """The database sink, connected and checked, or None without one."""
    from riskwarn.scoring.sink import WatchlistSink, sink_url

    url = sink_url(flag, config.sink.url)
    if url is None:
        return None
    target = WatchlistSink(url)
    if status:
        status(f"checking the database {target.shown}")
    return target.open()


def _score_embedded(data_dir, model, as_of: str, out, *, status=None, watch) -> ScoreOutput:
    """Features in embedded DuckDB, the scorer in this process, every grid written."""
    from riskwarn.plan.watchlist import check_plan_groups, plan_columns, with_plan
    from riskwarn.scoring.files import previous_watchlist, write_watchlist
    from riskwarn.scoring.watchlist import build_watchlist, tier_changes

    bundle = model.bundle
    config = bundle.config
    kept: dict = {}
    frame, _, grids, _, _, dhash = features_for(
        data_dir,
        config,
        status=status,
        as_of=as_of,
        vocabulary=bundle.manifest.vocabulary,
        keep=kept,
    )
    check_plan_groups(watch, grids)
    if status:
        status("scoring")
    scored = bundle.scorer.score(frame)
    stamp = pd.Timestamp(scored["as_of"].iloc[0])
    provenance = _provenance(model, dhash)
    previous = previous_watchlist(out, stamp)
    watchlist = build_watchlist(
        scored, **_watchlist_settings(bundle, provenance, watch), previous=previous
    )
    plan = plan_columns(watchlist, grids, watch, previous, config.data.freq)
    watchlist = with_plan(watchlist, plan)
    card = _card(bundle, provenance, stamp, model.champion, watch)
    card["changes"] = tier_changes(watchlist, previous)
    card["data_warnings"] = kept["recent_gaps"]
    paths = write_watchlist(watchlist, out, grids, card=card)
    return ScoreOutput(
        paths,
        watchlist,
        model.name,
        model.version,
        model.run_id,
        len(watchlist),
        card["changes"],
        card=card,
        every_grid=lambda: iter([watchlist]),
        grids=grids,
        warnings=[gap_line(g) for g in kept["recent_gaps"]],
    )


def _watchlist_settings(bundle, provenance, watch) -> dict:
    """The watchlist settings: horizon, manifest, tiers, suppression, provenance."""
    return {
        "horizon": bundle.horizon,
        "manifest": bundle.manifest,
        "tiers": watch.tiers,
        "suppress_below": watch.suppress_below,
        "provenance": provenance,
    }


def _card(bundle, provenance, stamp, champion: str | None, watch) -> dict:
    """The model card written beside a watchlist, with the plan's settings where there is
    a plan (the report says what capacity the plan was chosen under)."""
    from riskwarn.scoring.card import model_card

    card = model_card(
        bundle_info=bundle.info,
        config=bundle.config,
        horizon=bundle.horizon,
        provenance=provenance,
        as_of=stamp,
        champion=champion,
    )
    if watch.capacity is not None:
        card["plan"] = {
            "capacity": watch.capacity,
            "capacity_by": watch.capacity_by,
            "hold_periods": watch.hold_periods,
        }
    return card


def _provenance(model, dhash: str):
    from datetime import UTC, datetime

    from riskwarn.scoring.watchlist import Provenance

    return Provenance(
        model_name=model.name,
        model_version=model.version,
        run_id=model.run_id,
        data_hash=dhash,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _score_on_spark(data_dir, model, as_of: str, out, *, status=None, watch) -> ScoreOutput:
    """``score_files`` on Spark: features, the model as a UDF, a partitioned watchlist."""
    from pyspark.sql import functions as F

    from riskwarn.data.read import data_hash, table_hashes
    from riskwarn.plan.watchlist import check_plan_groups, plan_columns
    from riskwarn.scoring.files import HISTORY_COLUMNS, previous_watchlist, write_watchlist
    from riskwarn.scoring.spark import (
        explain_on_spark,
        partition_frames,
        rank_on_spark,
        tiered_count,
        to_local_rows,
        with_plan_on_spark,
        write_partition,
    )
    from riskwarn.scoring.watchlist import tier_changes
    from riskwarn.tracking.spark_udf import score_on_spark

    bundle = model.bundle
    config = bundle.config
    zone = config.data.timezone
    validated = validate_data(data_dir, config, progress=status)
    check_plan_groups(watch, validated.dataset.grids)
    dhash = data_hash(table_hashes(data_dir))
    if status:
        status("building features on Spark")
    builder = prepare_features(
        validated.dataset,
        config,
        graph=validated.graph,
        vocabulary=bundle.manifest.vocabulary,
        engine="spark",
    )
    try:
        features = builder.to_spark(as_of)
        spark = features.sparkSession
        stamp = builder.periods.boundaries[builder.periods.index_of(as_of)].tz_localize(zone)
        day = f"{stamp:%Y-%m-%d}"
        if status:
            status("scoring on Spark")
        # Scores are computed once, here; ranking and explaining read the checkpoint.
        scored = score_on_spark(features, model)
        n = scored.count()
        if n == 0:
            raise RiskwarnError("there are no grids to score at this as-of date.")
        provenance = _provenance(model, dhash)
        # The previous ranks come from history/, as on the embedded path: every grid's
        # rank and tier, whichever engine scored that date.
        before = previous_watchlist(out, stamp)
        previous = None
        if before is not None:
            rows = [
                (str(g), int(r), None if pd.isna(t) else int(t))
                for g, r, t in zip(before["grid_id"], before["rank"], before["tier"], strict=True)
            ]
            previous = spark.createDataFrame(
                rows, "grid_id string, prev_rank int, prev_tier tinyint"
            )
        ranked = rank_on_spark(scored, previous)
        settings = _watchlist_settings(bundle, provenance, watch)
        explained = explain_on_spark(ranked, n, **settings).localCheckpoint(eager=True)
        every = explained.select(*HISTORY_COLUMNS).toPandas()
        every["as_of"] = pd.to_datetime(every["as_of"]).dt.tz_localize(zone)
        # The plan is chosen on the driver from every grid's score (capacity per town
        # needs the whole list), then joined back.
        plan = plan_columns(every, validated.dataset.grids, watch, before, config.data.freq)
        every = every.merge(plan, on="grid_id", how="left", validate="1:1")
        watchlist = with_plan_on_spark(explained, plan)
        if status:
            status("writing the partitioned watchlist")
        root = write_partition(watchlist, out, day, zone)
        top_n = max(1, tiered_count(n, watch.tiers))
        chosen = (F.col("rank") <= top_n) | F.coalesce(F.col("in_plan"), F.lit(False))
        top = to_local_rows(watchlist.filter(chosen).toPandas(), zone)
    finally:
        builder.close()
    card = _card(bundle, provenance, stamp, model.champion, watch)
    card["changes"] = tier_changes(every, before)
    card["data_warnings"] = recent_gaps(validated.gaps, config, as_of)
    paths = write_watchlist(top, out, validated.dataset.grids, card=card, history=every)
    return ScoreOutput(
        [*paths, root],
        top,
        model.name,
        model.version,
        model.run_id,
        n,
        card["changes"],
        card=card,
        every_grid=lambda: partition_frames(root, day),
        grids=validated.dataset.grids,
        warnings=[gap_line(g) for g in card["data_warnings"]],
    )


#: How each engine scores a loaded model: ``(data_dir, model, as_of, out, *, status)``
#: to a :class:`ScoreOutput`. The one place the engine is chosen.
SCORING_ENGINES = {"duckdb": _score_embedded, "spark": _score_on_spark}
