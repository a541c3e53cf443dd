"""Spark as an Ibis engine: the session, and tables staged as Parquet.

The feature and label definitions are the same Ibis expressions DuckDB runs; this
module only supplies the engine. Spark reads every input table from Parquet (a
staging folder the driver writes once the dataset is validated) and materialises
intermediate stages to Parquet as well, which cuts the query plan and keeps the
executors' memory free instead of caching wide panels.

Local mode (the default) needs loopback addresses and the running interpreter for
the Python workers; an active session (``spark-submit``, a notebook on a cluster)
is used as it is. ``RISKWARN_SPARK_MASTER`` overrides the master of a new session
(default ``local[2]``), ``RISKWARN_SPARK_DRIVER_MEMORY`` its driver memory.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskwarn.errors import RiskwarnError

_STAGE_ATTR = "_riskwarn_stage"


def spark_session(threads: int = 2, driver_memory: str | None = None):
    """The active Spark session, or a new local one set up for this machine.

    Parameters
    ----------
    threads : int
        Cores of a new local session (``local[threads]``).
    driver_memory : str, optional
        JVM heap of a new session, e.g. ``"6g"``. Default:
        ``RISKWARN_SPARK_DRIVER_MEMORY`` or ``"4g"``.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - pyspark is a dependency
        raise RiskwarnError(
            "the spark engine needs pyspark (pip install 'pyspark>=4.0,<4.1')."
        ) from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise RiskwarnError(
            "the spark engine needs Java 17 or later: install a JDK or set JAVA_HOME."
        )
    # Local mode binds to loopback: the machine's own name may not resolve, and no
    # other host needs to reach a local driver. Workers run this interpreter.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    scratch = tempfile.mkdtemp(prefix="riskwarn-spark-")
    master = os.environ.get("RISKWARN_SPARK_MASTER", f"local[{int(threads)}]")
    memory = driver_memory or os.environ.get("RISKWARN_SPARK_DRIVER_MEMORY", "4g")
    builder = (
        SparkSession.builder.master(master)
        .appName("riskwarn")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.local.dir", scratch)
        .config("spark.sql.warehouse.dir", str(Path(scratch) / "warehouse"))
        .config("spark.sql.session.timeZone", "UTC")
        # Instants as Parquet TIMESTAMP_MICROS (adjusted to UTC), which every reader
        # understands; Spark's default INT96 is deprecated.
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # Spark's default of 200 shuffle partitions is for clusters; locally a few
        # per core, which adaptive execution merges further where they are small.
        .config("spark.sql.shuffle.partitions", str(max(8, 16 * int(threads))))
        .config("spark.sql.adaptive.enabled", "true")
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def connect_spark(threads: int = 2, session=None):
    """An Ibis PySpark backend on ``session`` (default: :func:`spark_session`)."""
    import ibis

    session = session if session is not None else spark_session(threads)
    con = ibis.pyspark.connect(session)
    setattr(con, _STAGE_ATTR, None)
    return con


def spark_frame(con, expr):
    """An Ibis expression as a Spark DataFrame (for what Ibis does not wrap: UDFs,
    partitioned writes). The one place that reaches into the backend's session."""
    return con._session.sql(con.compile(expr))


def is_spark(con) -> bool:
    """Whether ``con`` is an Ibis PySpark backend."""
    return getattr(con, "name", None) == "pyspark"


def stage_dir(con) -> Path:
    """The staging folder of a Spark backend (made on first use).

    On a cluster it must be a path every executor reads (a shared file system or an
    object store); ``RISKWARN_SPARK_STAGE`` names its parent. Locally, a temp folder.
    """
    folder = getattr(con, _STAGE_ATTR, None)
    if folder is None:
        parent = os.environ.get("RISKWARN_SPARK_STAGE")
        if parent:
            Path(parent).mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="riskwarn-stage-", dir=parent or None))
        setattr(con, _STAGE_ATTR, folder)
    return folder


def _unique(name: str) -> str:
    # Spark's temporary views are per session, not per builder: a second builder's
    # "rw_grids" must not replace the first one's under its feet.
    return f"{name}_{uuid.uuid4().hex[:12]}"


def stage_frame(con, name: str, frame: pd.DataFrame | pa.Table):
    """Write ``frame`` to Parquet in the staging folder; register it as a view named
    after ``name`` (made unique in the session)."""
    name = _unique(name)
    path = stage_dir(con) / f"{name}.parquet"
    table = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    pq.write_table(table, path)
    return con.read_parquet(str(path), table_name=name)


def stage_expr(con, name: str, expr):
    """Compute ``expr`` into Parquet part files in the staging folder; read them back.

    A checkpoint: later stages read the files, not a plan that recomputes the stage.
    """
    name = _unique(name)
    path = stage_dir(con) / name
    con.to_parquet(expr, str(path))
    return con.read_parquet(str(path), table_name=name)


def drop_stage(con) -> None:
    """Remove the staging folder (its views stay registered but must not be read)."""
    folder = getattr(con, _STAGE_ATTR, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        setattr(con, _STAGE_ATTR, None)
