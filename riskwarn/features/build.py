"""Build the grid x as-of feature matrix (and labels) from a validated dataset.

``build_features(dataset, config)`` returns every grid for every as-of date;
``build_features(dataset, config, as_of=t)`` returns the rows for ``t`` only, built
by a much cheaper query and equal to the same rows of the full matrix. The rows a
watchlist is scored from are exactly what this function returns.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskwarn.atomic import atomic_dir, atomic_path
from riskwarn.config import Config
from riskwarn.data.validate import Dataset
from riskwarn.errors import RiskwarnError
from riskwarn.features.calendar import calendar_frame
from riskwarn.features.coverage import VOCABULARY_KEY as COVERAGE
from riskwarn.features.coverage import (
    coverage_frame,
    coverage_info,
    coverage_window,
    gap_tables,
    observed_frame,
)
from riskwarn.features.delays import latest_known_arrays, pending_corrections
from riskwarn.features.manifest import FeatureManifest
from riskwarn.features.plan import FeaturePlan, plan_features
from riskwarn.features.primitives import (
    array_primitives,
    check_decay,
    dense_counts,
    filled,
    panel_primitives,
    single_primitives,
    small_pages,
)
from riskwarn.features.spatial import (
    GRAPH_INFO,
    graph_structure,
    neighbour_arrays,
    neighbour_counts,
    neighbour_jobs,
    neighbour_table,
    spatial_features,
)
from riskwarn.features.streams import (
    Stream,
    category_vocabulary,
    define_streams,
    known_latest,
    late_sources,
    stream_sources,
)
from riskwarn.labels.build import (
    array_labels,
    check_label,
    label_columns_window,
    label_gaps,
    with_single_labels,
)
from riskwarn.panel.graph import GridGraph, build_grid_graph
from riskwarn.panel.spark import drop_stage, is_spark, spark_frame, stage_expr
from riskwarn.panel.tables import (
    PanelData,
    dense_panel,
    load_panel_data,
    put_table,
    write_parquet,
)


@dataclass
class FeatureBuilder:
    """A dataset loaded into an engine, with its feature plan.

    Attributes
    ----------
    data : PanelData
    config : Config
    streams : list of Stream
    plan : FeaturePlan
    vocabulary : dict
        Category (type) columns per event table and the grid types that become
        features; pass it back to build the same columns on other data.
    warnings : list of str
    kernel : {"arrays", "sql"}
        How the whole-panel primitives are computed: in memory with cumulative
        sums ("arrays", the embedded default) or as window functions inside the
        engine ("sql", what a distributed engine runs). Both give the same values.
    """

    data: PanelData
    config: Config
    streams: list[Stream]
    plan: FeaturePlan
    vocabulary: dict[str, list[str]]
    warnings: list[str] = field(default_factory=list)
    kernel: str = "arrays"

    @property
    def manifest(self) -> FeatureManifest:
        return self.plan.manifest

    @property
    def feature_names(self) -> list[str]:
        return self.manifest.names

    @property
    def label_names(self) -> list[str]:
        h = self.config.label.horizon
        return [f"{k}_h{i}" for i in range(1, h + 1) for k in ("label", "count")]

    # -- the Ibis expression -------------------------------------------------
    def _sources(self, known_by: int | None = None) -> list[ir.Table]:
        return stream_sources(self.data, self.streams, self.config.label, known_by)

    def _coverage_tables(self) -> list[str]:
        return [t for t in self.vocabulary.get(COVERAGE, []) if t in self.data.events]

    def _delay_parts(self) -> tuple[list[ir.Table], list[ir.Table]]:
        """With ``recorded_at``: the pending corrections per source and the
        known-latest tables for ``last`` (:mod:`riskwarn.features.delays`)."""
        if not self.data.has_delays:
            return [], []
        prims = self.plan.primitives
        late = late_sources(self.data, self.streams, self.config.label)
        fixes = [pending_corrections(self.data, lt, full, prims) for lt, full in zip(
            late, self._sources(), strict=True)]  # fmt: skip
        lasts = {p.stream for p in prims if p.kind == "last"}
        latest = known_latest(self.data, self.streams, self.config.label, lasts) if lasts else []
        return [f for f in fixes if f is not None], latest

    def _spatial_arrays(self, columns: dict, n_grids: int, n_periods: int) -> dict:
        """Neighbour sums, maxima and counts as extra columns of the in-memory panel."""
        out = {}
        lists = self.data.edge_lists
        for prefix in ("n1", "n2"):
            count = np.bincount(lists[prefix]["grid_idx"].to_numpy(), minlength=n_grids)
            out[f"{prefix}_n"] = pa.array(np.repeat(count.astype(np.int32), n_periods))
        for prefix, col, with_max in neighbour_jobs(self.plan)[2]:
            values = columns[col].to_numpy(zero_copy_only=False).reshape(n_grids, n_periods)
            sums, maxima = neighbour_arrays(values, lists[prefix], with_max)
            out[f"{prefix}_sum__{col}"] = pa.array(sums.ravel())
            if maxima is not None:
                out[f"{prefix}_max__{col}"] = pa.array(maxima.ravel())
        return out

    def _materialize(self, stage: str, expr: ir.Table) -> ir.Table:
        """Compute a stage into an engine temp table.

        One giant query makes DuckDB materialise wide intermediate rows and sort
        them again for the windows; staging the dense panel (sorted, int32) first
        makes the window pass about twice as fast and keeps memory lower.
        """
        name = f"rw_stage_{stage}_{id(self):x}"
        if is_spark(self.data.con):
            return stage_expr(self.data.con, name, expr)
        return self.data.con.create_table(name, expr, temp=True, overwrite=True)

    def _base_full(self, labels: bool) -> ir.Table:
        if self.kernel == "sql":
            return self._base_full_sql(labels)
        return self._base_full_arrays(labels)

    def _base_full_sql(self, labels: bool) -> ir.Table:
        """Primitives as window functions over the dense panel, inside the engine."""
        check_decay(self.plan.primitives, self.data.periods.n_complete)
        names = [s.name for s in self.streams]
        # The sources' sparse rows are stacked and summed, then joined to the dense
        # panel once: one join per source would move the growing panel each time.
        stacked = None
        for src in self._sources():
            zero = ibis.literal(0, "int64")
            part = src.select(
                "grid_idx", "period", **{n: src[n] if n in src.columns else zero for n in names}
            )
            stacked = part if stacked is None else stacked.union(part, distinct=False)
        busy = stacked.group_by(["grid_idx", "period"]).aggregate(
            **{n: stacked[n].sum() for n in names}
        )
        fixes, latest = self._delay_parts()
        panel = dense_panel(self.data).left_join(busy, ["grid_idx", "period"])
        panel = panel.select(
            "grid_idx", "period", **{n: panel[n].fill_null(0).cast("int32") for n in names}
        )
        for table in latest:  # the latest period with rows, by when it became known
            known = table.select(
                _g="grid_idx", _k="known", **{f"_kl_{c}": table[c] for c in table.columns[2:]}
            )
            joined = panel.left_join(
                known, [panel["grid_idx"] == known["_g"], panel["period"] == known["_k"]]
            )
            panel = joined.select(*panel.columns, *(c for c in known.columns[2:]))
        panel = self._materialize("panel", panel.order_by(["grid_idx", "period"]))
        cols = {
            name: expr.cast("float64" if name.startswith("_decay") else "int32")
            for name, expr in panel_primitives(panel, self.plan.primitives).items()
        }
        if latest:
            running = ibis.window(group_by="grid_idx", order_by="period", rows=(None, 0))
            for p in self.plan.primitives:
                if p.kind == "last":
                    cols[p.column] = panel[f"_kl_{p.stream}"].max().over(running).cast("int32")
        if labels:
            n_complete = self.data.periods.n_complete
            gaps = label_gaps(self.data, self.config.label)
            cols |= label_columns_window(panel, self.config.label.horizon, n_complete, gaps)
        prims = panel.select("grid_idx", "period", **cols)
        for fix in fixes:  # what each row had not yet seen
            fix = fix.select(
                _g="grid_idx", _q="period", **{f"_fix{c}": fix[c] for c in fix.columns[2:]}
            )
            joined = prims.left_join(
                fix, [prims["grid_idx"] == fix["_g"], prims["period"] == fix["_q"]]
            )
            fixed = {c[4:] for c in fix.columns[2:]}
            prims = joined.select(
                **{c: _less(joined[c], joined[f"_fix{c}"]) if c in fixed else joined[c]
                   for c in prims.columns}
            )  # fmt: skip
        return self._materialize("primitives", prims)

    def _base_full_arrays(self, labels: bool) -> ir.Table:
        """The same primitives computed in memory from the engine's per-period counts."""
        with small_pages():
            return self._base_full_arrays_inner(labels)

    def _base_full_arrays_inner(self, labels: bool) -> ir.Table:
        n_grids, n_periods = self.data.n_grids, self.data.periods.n_complete
        dense: dict[str, np.ndarray] = {}
        for src in self._sources():
            rows = self.data.con.to_pyarrow(src)
            period = rows["period"].to_numpy().astype(np.int64)
            keep = period < n_periods
            flat = rows["grid_idx"].to_numpy().astype(np.int64)[keep] * n_periods + period[keep]
            for name in rows.column_names[2:]:
                values = rows[name].to_numpy(zero_copy_only=False)[keep].astype(np.int32)
                dense[name] = dense_counts(flat, values, n_grids, n_periods)
        columns = {
            "grid_idx": pa.array(np.repeat(np.arange(n_grids, dtype=np.int32), n_periods)),
            "period": pa.array(np.tile(np.arange(n_periods, dtype=np.int32), n_grids)),
        }
        kinds = {p.column: p.kind for p in self.plan.primitives}
        streams_of = {p.column: p.stream for p in self.plan.primitives}
        fixes, latest = self._delay_parts()
        unseen = {}  # per primitive column: what each row had not yet seen
        for fix in fixes:
            got = self.data.con.to_pyarrow(fix)
            flat = got["grid_idx"].to_numpy().astype(np.int64) * n_periods + got[
                "period"
            ].to_numpy().astype(np.int64)
            for name in got.column_names[2:]:
                dtype = np.float64 if kinds[name] == "decay" else np.int64
                values = got[name].to_numpy(zero_copy_only=False)
                unseen[name] = dense_counts(flat, values, n_grids, n_periods, dtype=dtype).ravel()
        known_last = latest_known_arrays(self.data, latest, n_grids, n_periods)
        for column, values in array_primitives(dense, self.plan.primitives):
            if column in unseen:
                values = values - unseen.pop(column)
                if kinds[column] == "decay":  # rounding must not make a count negative
                    values = np.maximum(values, 0.0)
            elif kinds[column] == "last" and latest:
                values = known_last[streams_of[column]]
            if kinds[column] == "decay":
                values = values.astype(np.float32, copy=False)
                columns[column] = pa.array(values, type=pa.float32())
            elif kinds[column] == "last":
                columns[column] = pa.array(values, mask=values < 0, type=pa.int32())
            else:
                columns[column] = pa.array(values.astype(np.int32, copy=False), type=pa.int32())
        if labels:
            counts = array_labels(
                dense["esc_n"],
                self.config.label.horizon,
                n_periods,
                label_gaps(self.data, self.config.label),
            )
            for h in range(1, self.config.label.horizon + 1):
                values = counts[f"count_h{h}"]
                missing = np.isnan(values)
                c = np.nan_to_num(values, nan=0).astype(np.int32)
                columns[f"count_h{h}"] = pa.array(c, mask=missing, type=pa.int32())
                columns[f"label_h{h}"] = pa.array(
                    (c > 0).astype(np.int8), mask=missing, type=pa.int8()
                )
        del dense  # before the neighbour pass, which needs memory of its own
        if self.plan.has_graph and self.config.features.spatial:
            columns |= self._spatial_arrays(columns, n_grids, n_periods)
        name = f"rw_stage_array_primitives_{id(self):x}"
        self.data.con.con.register(name, pa.table(columns))
        return self.data.con.table(name)

    def _base_single(self, q: int, labels: bool) -> ir.Table:
        base = self.data.grids.select("grid_idx")
        for src in self._sources(known_by=q):  # only what was known as of the date
            prims = [p for p in self.plan.primitives if p.stream in src.columns]
            past = src.filter(src["period"] <= q)
            agg = past.group_by("grid_idx").aggregate(**single_primitives(past, prims, q))
            joined = base.left_join(agg, "grid_idx")
            new = {
                p.column: joined[p.column].fill_null(0) if filled(p.kind) else joined[p.column]
                for p in prims
            }
            base = joined.select(*base.columns, **new)
        base = base.mutate(period=ibis.literal(q, "int32"))
        if labels:
            base = with_single_labels(self.data, self.config.label, base, q)
        return base

    def table(
        self, as_of: object | None = None, labels: bool = False, *, order_keys: bool = False
    ) -> ir.Table:
        """The feature table as an Ibis expression.

        The whole-panel form computes its stages (dense panel, window primitives)
        into engine temp tables first; the final selection is left to the caller.
        """
        periods = self.data.periods
        q = None
        if as_of is None:
            base = self._base_full(labels)
        else:
            q = periods.index_of(as_of) - 1
            base = self._base_single(q, labels)
        con = self.data.con
        cal = calendar_frame(periods.boundaries[1 : periods.n_complete + 1])
        gaps = self._coverage_tables()
        if gaps:  # windows that span an extraction gap, flagged per table
            window = coverage_window(self.config.features)
            cover = coverage_frame(periods.n_complete, self.data.unobserved, gaps, window)
            cal = cal.merge(cover, on="period", how="left", validate="one_to_one")
        if self.plan.city_level is not None:
            events, short_w, long_w = self.plan.city_level
            tables = {s.name: s.table for s in self.streams if s.name in events}
            seen = observed_frame(
                periods.n_complete, self.data.unobserved, tables, (short_w, long_w)
            )
            cal = cal.merge(seen, on="period", how="left", validate="one_to_one")
        cal = put_table(con, "rw_calendar", cal)
        grids = self.data.grids
        static = [c for c in ("population", "area_km2", "grid_type") if c in grids.columns]
        t = base.join(grids.select("grid_idx", "grid_id", *static), "grid_idx")
        if as_of is None:
            t = t.join(cal, "period")
        else:  # one as-of date: its calendar row applies to every grid
            t = t.cross_join(cal.filter(cal["period"] == q).drop("period"))
        if self.plan.has_graph and self.config.features.spatial:
            t = self._with_spatial(t, base, as_of is not None)
        out = {"grid_id": t["grid_id"], "as_of": t["as_of"]}
        if order_keys:
            out |= {"_o_period": t["period"], "_o_grid": t["grid_idx"]}
        for name, expr in self.plan.exprs.items():
            out[name] = expr(t)
        if labels:
            for name in self.label_names:
                out[name] = t[name]
        return t.select(**out)

    def _with_spatial(self, t: ir.Table, base: ir.Table, single: bool) -> ir.Table:
        """Join the neighbour aggregates (unless the in-memory kernel made them) and structure."""
        if "n1_n" not in base.columns:
            keys = ["grid_idx"] if single else ["grid_idx", "period"]
            edges = {"n1": self.data.edges, "n2": self.data.ring2}
            by_ring: dict[str, list[tuple[str, bool]]] = {}
            for prefix, col, with_max in neighbour_jobs(self.plan)[2]:
                by_ring.setdefault(prefix, []).append((col, with_max))
            parts = [neighbour_table(base, edges[p], jobs, p) for p, jobs in by_ring.items()]
            if single:  # one period: joining on the literal period column confuses Ibis
                for part in parts:
                    t = t.left_join(part.drop("period"), keys)
            else:
                # The rings' narrow tables are joined to each other first and computed
                # once, so the wide panel meets them in a single join (a distributed
                # engine shuffles the wide rows once per join).
                rings = parts[0]
                for part in parts[1:]:
                    both = rings.outer_join(part, keys)
                    rings = both.select(
                        grid_idx=both["grid_idx"].coalesce(both["grid_idx_right"]),
                        period=both["period"].coalesce(both["period_right"]),
                        **{c: both[c] for c in both.columns if c.startswith(("n1_", "n2_"))},
                    )
                t = t.left_join(self._materialize("neighbours", rings), keys)
            for prefix in ("n1", "n2"):
                t = t.left_join(neighbour_counts(edges[prefix], prefix), "grid_idx")
        structure = put_table(
            self.data.con,
            "rw_graph_structure",
            graph_structure(self.data.graph, self.data.grid_ids),
        )
        return t.join(structure, "grid_idx")

    # -- execution ----------------------------------------------------------------
    def _ordered(self, as_of: object | None, labels: bool) -> ir.Table:
        # Sorting on the integer keys is cheaper than on (as_of, grid_id) and gives
        # the same order: grid_idx follows sorted grid_id, period follows as_of.
        t = self.table(as_of, labels, order_keys=True)
        return t.order_by(["_o_period", "_o_grid"]).drop("_o_period", "_o_grid")

    @property
    def periods(self):
        """The dataset's :class:`~riskwarn.panel.periods.PeriodIndex` (``.as_of_dates``, ``.end``)."""
        return self.data.periods

    def close(self) -> None:
        """Free the engine and its tables; the builder cannot build after this.

        A Spark session is shared (and may be a cluster's): only the builder's
        staged files are removed, the session stays up.
        """
        if is_spark(self.data.con):
            drop_stage(self.data.con)
        else:
            self.data.con.disconnect()

    def to_pandas(self, as_of: object | None = None, labels: bool = False) -> pd.DataFrame:
        """Execute and return a frame sorted by ``as_of, grid_id``; ``as_of`` tz-aware."""
        expr = self._ordered(as_of, labels)
        table = self.data.con.to_pyarrow(expr)
        return frame_from_arrow(table, self.label_names, self.config.data.timezone)

    def staged(self, labels: bool = True) -> ir.Table:
        """The whole table computed once into the engine (a temp table, or Spark's
        staged Parquet), with its order keys, for several samples to read from."""
        return self._materialize("features", self.table(None, labels, order_keys=True))

    def fetch(self, expr: ir.Table, folder: str | Path) -> pd.DataFrame:
        """Rows of :meth:`staged` (or a filter of it) as a feature frame, in table order.

        They travel through a Parquet file (Spark: part files) in ``folder``, which
        keeps the driver's memory to the frame itself.
        """
        ordered = expr.order_by(["_o_period", "_o_grid"]).drop("_o_period", "_o_grid")
        path = Path(folder) / f"rows-{id(expr):x}.parquet"
        write_parquet(self.data.con, ordered, path, timezone=self.config.data.timezone)
        return read_feature_file(path, self.config.data.timezone)

    def to_spark(self, as_of: object | None = None, labels: bool = False):
        """The table as a Spark DataFrame, unordered (Spark engine only); ``as_of`` naive local.

        Its files stay staged until :meth:`close`: run the actions on it first.
        """
        con = self.data.con
        if not is_spark(con):
            raise RiskwarnError("to_spark needs a builder prepared with engine='spark'.")
        return spark_frame(con, self.table(as_of, labels))

    def write_parquet(
        self, path: str | Path, as_of: object | None = None, labels: bool = False
    ) -> Path:
        """Write the table to Parquet, atomically; returns the path.

        DuckDB writes one file; Spark writes a folder of part files (in row order),
        which every Parquet reader takes as one table. ``as_of`` is stored as an
        instant (Parquet timestamps adjusted to UTC); readers convert it to
        ``[data] timezone`` for local dates.
        """
        expr = self._ordered(as_of, labels)
        writing = atomic_dir if is_spark(self.data.con) else atomic_path
        with writing(path) as tmp:
            write_parquet(self.data.con, expr, tmp, timezone=self.config.data.timezone)
        return Path(path)


def _less(value: ir.NumericValue, unseen: ir.NumericValue) -> ir.NumericValue:
    """A primitive less what its row had not yet seen (decayed sums: never below 0
    by rounding)."""
    out = (value - unseen.fill_null(0)).cast(value.type())
    return ibis.greatest(out, 0.0) if value.type().is_floating() else out


def frame_from_arrow(table: pa.Table, label_names, timezone: str) -> pd.DataFrame:
    """A feature table (from the engine or a Parquet file) as the pandas feature frame.

    Labels are missing where the window is not observed: they become nullable
    integers. Features never are, and convert straight to NumPy. Each part is
    converted with self_destruct, so Arrow's copy is freed column by column instead
    of doubling the memory of a city-scale frame. ``as_of`` becomes tz-aware local
    time (naive values are local already; aware ones are converted).
    """
    label_names = [c for c in table.column_names if c in set(label_names)]
    nullable = {pa.int8(): pd.Int8Dtype(), pa.int32(): pd.Int32Dtype()}
    label_table = table.select(label_names)
    feature_table = table.drop_columns(label_names)
    del table
    frame = feature_table.to_pandas(self_destruct=True, split_blocks=True, ignore_metadata=True)
    del feature_table
    if label_names:
        label_frame = label_table.to_pandas(
            types_mapper=nullable.get, self_destruct=True, ignore_metadata=True
        )
        del label_table
        frame = pd.concat([frame, label_frame], axis=1)
        del label_frame
    as_of = frame["as_of"].dt
    frame["as_of"] = as_of.tz_localize(timezone) if as_of.tz is None else as_of.tz_convert(timezone)
    frame["grid_id"] = frame["grid_id"].astype("string")
    # Arrow keeps freed buffers for reuse; hand them back before the memory-hungry fits.
    pa.default_memory_pool().release_unused()
    return frame


def read_feature_file(path: str | Path, timezone: str) -> pd.DataFrame:
    """Read a feature file written by :meth:`FeatureBuilder.write_parquet`."""
    table = pq.read_table(path)
    labels = [c for c in table.column_names if re.match(r"^(label|count)_h\d+$", c)]
    return frame_from_arrow(table, labels, timezone)


def data_vocabulary(data, config: Config, before: object = None) -> dict[str, list[str]]:
    """The categories per event table and the grid types that get feature columns.

    ``before``: an as-of date (naive local); only events before it are counted.
    """
    p = None if before is None else data.periods.index_of(pd.Timestamp(before))
    vocabulary = category_vocabulary(data, config.features.top_categories, before=p)
    vocabulary[COVERAGE] = gap_tables(data.unobserved, p)
    if "grid_type" in data.grids_frame:
        vocabulary["grid_type"] = sorted(
            data.grids_frame["grid_type"].dropna().astype(str).unique().tolist()
        )
    return vocabulary


def prepare_features(
    dataset: Dataset,
    config: Config,
    *,
    graph: GridGraph | None = None,
    vocabulary: dict[str, list[str]] | None = None,
    vocabulary_before: object = None,
    con=None,
    engine: str = "duckdb",
) -> FeatureBuilder:
    """Load ``dataset`` into an engine and plan its features.

    Parameters
    ----------
    vocabulary : dict, optional
        Categories per table and grid types to make columns for (from an earlier
        build or a model's manifest). Default: the most frequent in this dataset.
    vocabulary_before : date-like, callable or None
        Without ``vocabulary``, count the categories only in events before this
        as-of date (naive local), so that no column exists because of what happened
        later: a single as-of build takes its own date, a backtest its first
        training cut. A callable gets the data's :class:`PeriodIndex` and returns
        the date (or None: every event).
    """
    graph = (
        graph
        if graph is not None
        else build_grid_graph(dataset.grids, dataset.adjacency, k=config.graph.k)
    )
    data = load_panel_data(dataset, graph, config, con, engine=engine)
    # Spark runs the window-function kernel; the in-memory one needs all rows on one machine.
    kernel = "sql" if is_spark(data.con) else "arrays"
    label, warnings = check_label(data, config.label)
    # The builder works with the rules this dataset can evaluate (the default label
    # on a city without petitions is its incident rule).
    config = dataclasses.replace(config, label=label)
    columns = {name: list(t.columns) for name, t in data.events.items()}
    if vocabulary is None:
        before = vocabulary_before
        if callable(before):
            before = before(data.periods)
        vocabulary = data_vocabulary(data, config, before)
    streams = define_streams(columns, vocabulary, config.label)
    plan = plan_features(
        streams,
        config.features,
        grid_columns=list(data.grids_frame.columns),
        grid_types=vocabulary.get("grid_type", []) if "grid_type" in data.grids_frame else [],
        has_graph=graph.available,
    )
    if graph.available and config.features.spatial:
        bases, esc_cols, _ = neighbour_jobs(plan)
        by_name = {s.name: s for s in streams}
        for info, expr in spatial_features(by_name, bases, esc_cols, plan.short_w):
            plan.add(info, expr)
        for info in GRAPH_INFO:
            plan.add(info, lambda t, n=info.name: t[n])
    elif not graph.available:
        warnings.append("no grid graph: spatial and graph-structure features are skipped.")
    window = coverage_window(config.features)
    for name in vocabulary.get(COVERAGE, []):
        if name in data.events:
            info = coverage_info(name, window)
            plan.add(info, lambda t, c=info.name: t[c].cast("float32"))
    plan.manifest.freq = config.data.freq
    plan.manifest.label_horizon = config.label.horizon
    plan.manifest.vocabulary = vocabulary
    return FeatureBuilder(data, config, streams, plan, vocabulary, warnings, kernel=kernel)


def build_features(
    dataset: Dataset,
    config: Config,
    as_of: object | None = None,
    *,
    labels: bool = False,
    graph: GridGraph | None = None,
    vocabulary: dict[str, list[str]] | None = None,
    engine: str = "duckdb",
) -> pd.DataFrame:
    """The feature matrix: ``grid_id, as_of`` then one column per manifest feature.

    Parameters
    ----------
    dataset : Dataset
        A validated dataset (:func:`riskwarn.data.validate.load_dataset`).
    config : Config
    as_of : date-like, optional
        One as-of boundary (local time): only its rows are built, with a column for
        each of the top categories of the events before it (unless ``vocabulary``
        is given). Default: every as-of date, the categories of every event.
    labels : bool
        Add ``label_h{h}`` and ``count_h{h}`` for ``h = 1..[label] horizon``
        (missing where the label window is not fully observed).
    engine : {"duckdb", "spark"}
        Where the Ibis definitions run: embedded DuckDB (default) or Spark (the
        active session, else a local one); both give the same values.

    Returns
    -------
    DataFrame, shape (n_grids * n_as_of, 2 + n_features [+ 2 * horizon])
    """
    # One as-of date: its columns are those of the categories known by then.
    builder = prepare_features(
        dataset,
        config,
        graph=graph,
        vocabulary=vocabulary,
        vocabulary_before=as_of,
        engine=engine,
    )
    try:
        return builder.to_pandas(as_of, labels)
    finally:
        builder.close()
