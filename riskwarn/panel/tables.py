"""Engine tables for a dataset: grids, events and graph edges as Ibis tables.

Everything downstream (labels, features) is written in Ibis against these tables,
so the same definitions run on DuckDB (the embedded default) or another backend.
Grids get a dense integer key ``grid_idx`` (position in sorted ``grid_id`` order):
it is a join key only, never a feature.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
import networkx as nx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from riskwarn.config import Config
from riskwarn.data.contract import RECORDED, TABLES
from riskwarn.data.validate import Dataset
from riskwarn.errors import RiskwarnError
from riskwarn.panel.graph import GridGraph
from riskwarn.panel.periods import PeriodIndex, period_index_for, unobserved_periods
from riskwarn.panel.spark import is_spark, spark_frame, stage_frame

ENGINES = ("duckdb", "spark")
_UNUSED = (
    "case_id",
    "event_id",
    "intervention_id",
    "channel",
    "outcome",
    "status",
    "amount",
    "parties",
    "team",
    "note_code",
)
# Columns that also get a period index: the date a case was closed or resolved.
_SECOND_TIMES = {"petitions": ("closed_at",), "disputes": ("resolved_at",)}


@dataclass
class PanelData:
    """A dataset loaded into an engine.

    Attributes
    ----------
    con : ibis backend
    periods : PeriodIndex
    grid_ids : np.ndarray of str, shape (n_grids,)
        ``grid_ids[grid_idx]`` is the grid's id.
    grids : ibis Table
        ``grid_idx`` plus the grids' attribute columns.
    events : dict of ibis Table
        Per event table (and ``interventions`` where given): ``grid_idx``, ``period``
        (of its main timestamp), contract columns, and
        ``closed_period``/``resolved_period``/``recorded_period`` where those dates
        exist (``recorded_at`` itself is not kept).
    edges : ibis Table or None
        ``grid_idx, nbr_idx, weight``, both directions of every edge.
    ring2 : ibis Table or None
        ``grid_idx, nbr_idx`` for grids exactly two hops apart.
    edge_lists : dict of DataFrame or None
        The same two edge lists in memory ("n1", "n2"), sorted by ``grid_idx``.
    graph : GridGraph
    """

    con: object
    periods: PeriodIndex
    grid_ids: np.ndarray
    grids: ir.Table
    events: dict[str, ir.Table]
    edges: ir.Table | None
    ring2: ir.Table | None
    graph: GridGraph
    grids_frame: pd.DataFrame
    edge_lists: dict[str, pd.DataFrame] | None = None
    unobserved: dict[str, np.ndarray] = field(default_factory=dict)
    """Per event table, the complete periods it did not observe
    (:func:`~riskwarn.panel.periods.unobserved_periods`)."""

    @property
    def n_grids(self) -> int:
        return len(self.grid_ids)

    @property
    def has_delays(self) -> bool:
        """Whether any event table says when its rows were recorded (``recorded_at``)."""
        return any("recorded_period" in t.columns for t in self.events.values())


def connect(engine: str = "duckdb", threads: int = 2, memory_limit: str = "3GB"):
    """An Ibis backend for the feature build.

    DuckDB is embedded. Its buffer pool is capped (``memory_limit``) and spills to a
    private temporary folder beyond that, so a city-scale build stays within a few
    GB instead of taking most of the machine; ``threads`` stays within the cores.
    """
    if engine not in _CONNECTORS:
        raise RiskwarnError(f"engine {engine!r} is not available; use one of {ENGINES}.")
    return _CONNECTORS[engine](threads, memory_limit)


def _connect_duckdb(threads: int, memory_limit: str):
    spill = tempfile.mkdtemp(prefix="riskwarn-duckdb-")
    return ibis.duckdb.connect(threads=threads, memory_limit=memory_limit, temp_directory=spill)


def _connect_spark(threads: int, memory_limit: str):
    # Spark sizes its own memory (its session's settings), not DuckDB's buffer pool.
    from riskwarn.panel.spark import connect_spark

    return connect_spark(threads)


#: The one place an engine name becomes a backend.
_CONNECTORS = {"duckdb": _connect_duckdb, "spark": _connect_spark}


def put_table(con, name: str, frame: pd.DataFrame) -> ir.Table:
    """Register an in-memory frame with the engine as table ``name``.

    DuckDB copies it in; Spark reads it from a Parquet file in its staging folder,
    which is how a cluster's executors get at data the driver prepared.
    """
    if is_spark(con):
        return stage_frame(con, name, frame)
    return con.create_table(name, frame, overwrite=True)


def _local(series: pd.Series) -> pd.Series:
    return series.dt.tz_localize(None)


def _edges_frame(graph: GridGraph, index: pd.Index) -> tuple[pd.DataFrame, pd.DataFrame]:
    g = graph.graph
    rows = [(u, v, float(d.get("weight", 1.0))) for u, v, d in g.edges(data=True) if u != v]
    e = pd.DataFrame(rows, columns=["a", "b", "weight"])
    a = index.get_indexer(e["a"]).astype(np.int32)
    b = index.get_indexer(e["b"]).astype(np.int32)
    edges = pd.DataFrame(
        {
            "grid_idx": np.concatenate([a, b]),
            "nbr_idx": np.concatenate([b, a]),
            # float64 even without edges (one grid, all islands): DuckDB has no
            # column type for an empty object array.
            "weight": np.concatenate([e["weight"], e["weight"]]).astype(np.float64),
        }
    ).sort_values(["grid_idx", "nbr_idx"], ignore_index=True)
    # Ring two: reachable in two steps, not the grid itself, not a direct neighbour.
    adj = nx.to_scipy_sparse_array(g, nodelist=list(index), weight=None, format="csr")
    adj.setdiag(0)
    adj.eliminate_zeros()
    two = (adj @ adj).tocsr()
    two.setdiag(0)
    two = two - two.multiply(adj)
    two.eliminate_zeros()
    coo = two.tocoo()
    ring2 = pd.DataFrame(
        {"grid_idx": coo.row.astype(np.int32), "nbr_idx": coo.col.astype(np.int32)}
    ).sort_values(["grid_idx", "nbr_idx"], ignore_index=True)
    return edges, ring2


def load_panel_data(
    dataset: Dataset, graph: GridGraph, config: Config, con=None, *, engine: str = "duckdb"
) -> PanelData:
    """Register a validated dataset and its graph with an engine.

    Timestamps become naive local time of ``[data] timezone``; every event gets the
    index of the period that holds it.
    """
    con = con if con is not None else connect(engine)
    periods = period_index_for(
        [f[TABLES[name].time_column] for name, f in dataset.events.items()], config
    )
    grids = dataset.grids.sort_values("grid_id", ignore_index=True)
    grid_ids = grids["grid_id"].astype(str).to_numpy()
    index = pd.Index(grid_ids)
    grids_pd = grids.drop(columns=[c for c in ("geometry_wkt", "name") if c in grids])
    grids_pd.insert(0, "grid_idx", np.arange(len(grids), dtype=np.int32))
    tables = {"grids": put_table(con, "rw_grids", grids_pd)}
    events = {}
    unobserved = unobserved_periods(
        periods,
        {
            name: _local(f[TABLES[name].time_column].dt.tz_convert(config.data.timezone))
            for name, f in dataset.events.items()
        },
        config.data.missing_periods,
    )
    needed = {(r.table, r.column) for r in config.label.any_of}
    id_values = pa.array(grid_ids)
    # Interventions are loaded beside the event tables (their streams give the
    # intervention features) but never define the periods or a label.
    sources = dict(dataset.events)
    if dataset.interventions is not None:
        sources["interventions"] = dataset.interventions
    for name, frame in sources.items():
        spec = TABLES[name]
        # Ids and free text are never features; leaving them out halves the strings
        # the engine has to ingest. A column a label rule names is always kept.
        drop = [
            c for c in _UNUSED if c in frame and (name, c) not in needed and c != spec.time_column
        ]
        f = frame.drop(columns=drop)
        for col, dtype in f.dtypes.items():
            if isinstance(dtype, pd.DatetimeTZDtype):
                f[col] = _local(f[col].dt.tz_convert(config.data.timezone))
        # Arrow's hash lookup is several times faster than pandas' get_indexer here.
        codes = pc.index_in(pa.array(f["grid_id"].astype("string")), value_set=id_values)
        f.insert(0, "grid_idx", codes.to_numpy(zero_copy_only=False).astype(np.int32))
        f = f.drop(columns=["grid_id"])
        f["period"] = periods.period_of(f[spec.time_column]).astype(np.int32)
        if name == "interventions":  # one before the first period is outside the panel
            f = f[f["period"] >= 0]
        for col in (*_SECOND_TIMES.get(name, ()), RECORDED):
            if col in f:
                idx = periods.period_of(f[col]).astype(np.float64)
                f[col.replace("_at", "_period")] = pd.array(
                    np.where(f[col].isna(), np.nan, idx), dtype="Int32"
                )
        if RECORDED in f:  # its period is all the features need of it
            f = f.drop(columns=[RECORDED])
        events[name] = put_table(con, f"rw_{name}", f)
        del f  # the engine has its own copy; keep Python's memory for the build
    edges = ring2 = edge_lists = None
    if graph.available:
        e, r2 = _edges_frame(graph, index)
        edges = put_table(con, "rw_edges", e)
        ring2 = put_table(con, "rw_ring2", r2)
        edge_lists = {"n1": e, "n2": r2}
    return PanelData(
        con=con,
        periods=periods,
        grid_ids=grid_ids,
        grids=tables["grids"],
        events=events,
        edges=edges,
        ring2=ring2,
        graph=graph,
        grids_frame=grids_pd,
        edge_lists=edge_lists,
        unobserved=unobserved,
    )


def known_period(rows: ir.Table, period_column: str) -> ir.IntegerValue:
    """The period from whose end on a row's ``period_column`` date is known.

    A row is known as of ``s_{q+1}`` (panel row ``q``) when this is ``<= q``: the later
    of the date's own period and the period the row was recorded in; without
    ``recorded_at`` (the column, or the cell) the date itself is when it became known.
    """
    own = rows[period_column].cast("int32")
    if "recorded_period" not in rows.columns:
        return own
    recorded = rows["recorded_period"].cast("int32")
    return ibis.ifelse(recorded.notnull() & (recorded > own), recorded, own)


def dense_panel(data: PanelData) -> ir.Table:
    """Every grid for every complete period ``q`` (the row that becomes as-of ``q + 1``)."""
    n = data.periods.n_complete
    frame = pd.DataFrame({"period": np.arange(n, dtype=np.int32)})
    q = put_table(data.con, f"rw_periods_{n}", frame)
    return data.grids.select("grid_idx").cross_join(q)


def write_parquet(con, expr: ir.Table, path: Path, *, timezone: str) -> None:
    """Write ``expr`` to Parquet, turning its naive local ``as_of`` into an instant.

    DuckDB writes one file with its own parallel COPY (Ibis 12's batch streaming
    calls a cursor method that DuckDB 2.0 removed, and COPY is faster anyway).
    Spark writes a folder of part files at ``path``, in the expression's row order.
    """
    if is_spark(con):
        from pyspark.sql import functions as F

        frame = spark_frame(con, expr)
        frame = frame.withColumn("as_of", F.to_utc_timestamp(F.col("as_of"), timezone))
        frame.write.mode("error").parquet(str(path))
        return
    if getattr(con, "name", None) != "duckdb":  # pragma: no cover - other backends
        raise RiskwarnError(f"writing Parquet is not implemented for engine {con.name!r}.")
    sql = ibis.to_sql(expr, dialect="duckdb")
    target = str(path).replace("'", "''")
    zone = timezone.replace("'", "''")
    con.con.execute(
        f"COPY (SELECT * REPLACE (timezone('{zone}', as_of) AS as_of) FROM ({sql})) "
        f"TO '{target}' (FORMAT parquet)"
    )
