"""Watchlists into PostgreSQL, where dashboards read them: one transaction per scoring.

``riskwarn score --sink postgresql://USER@HOST:PORT/DB`` (or ``[sink] url``, which
``RISKWARN_SINK`` overrides) writes the same rows as the files into
``riskwarn_watchlist``, keyed by ``(grid_id, as_of, horizon, model_name,
model_version)``, the model card into ``riskwarn_model_card``, and keeps the view
``riskwarn_watchlist_latest`` (each grid's newest row). The password comes from
``PGPASSWORD`` or a ``.pgpass`` file, as libpq reads them; a URL is only ever shown
with its password masked.

All or nothing: the rows are bulk-loaded (COPY) into a temporary staging table, then,
in the same transaction, the scoring's earlier rows for that as-of date are deleted and
the staged rows inserted, and the card replaced. A reader sees the old week or the new
one (PostgreSQL's snapshots), a rerun replaces rather than duplicates, and a writer
that dies before its commit leaves the previous rows as they were.

The tables are created, and migrated forward, by riskwarn itself: ``riskwarn_schema``
holds their version (:data:`SCHEMA_VERSION`). A database at a newer version than this
riskwarn is refused before anything runs. The count quantiles (``events_q{NN}``) and the
risk curve (``risk_h{h}``) depend on the model's config: a column a scoring brings that
the table lacks is added (older rows read NULL there) and the view follows.

Values never enter SQL text: statements are SQLAlchemy Core or constant text with bound
parameters; column names are this module's own or checked against a strict pattern.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pandas as pd
import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from riskwarn.config import check_sink_url, masked_url
from riskwarn.errors import RiskwarnError
from riskwarn.scoring.files import json_text, plain_value

SCHEMA_VERSION = 2
WATCHLIST_TABLE = "riskwarn_watchlist"
CARD_TABLE = "riskwarn_model_card"
LATEST_VIEW = "riskwarn_watchlist_latest"
SCHEMA_TABLE = "riskwarn_schema"
GRIDS_TABLE = "riskwarn_grids"
#: What the database keeps of each grid, for dashboards to group and label by.
GRID_COLUMNS = ("grid_id", "name", "town", "district", "grid_type")
KEY = ("grid_id", "as_of", "horizon", "model_name", "model_version")
#: ``RISKWARN_SINK`` overrides ``[sink] url``; ``--sink`` overrides both.
SINK_ENV = "RISKWARN_SINK"
#: One writer at a time changes the tables (a transaction-level advisory lock).
_LOCK_KEY = 0x7277_6B31
#: Columns whose presence depends on the model's config: the count quantiles and the curve.
_EXTRA = {
    re.compile(r"events_q\d{2}(_\d{1,4})?"): sa.Integer,
    re.compile(r"risk_h\d{1,3}"): sa.Double,
}
_CONNECT_TIMEOUT_S = 10

_METADATA = sa.MetaData()
_TZ = sa.TIMESTAMP(timezone=True)
WATCHLIST = sa.Table(
    WATCHLIST_TABLE,
    _METADATA,
    sa.Column("grid_id", sa.Text, nullable=False),
    sa.Column("as_of", _TZ, nullable=False),
    sa.Column("horizon", sa.SmallInteger, nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("score", sa.Double, nullable=False),
    sa.Column("expected_events", sa.Double),
    sa.Column("tier", sa.SmallInteger),
    sa.Column("reasons", JSONB),
    sa.Column("reasons_en", sa.Text),
    sa.Column("reasons_zh", sa.Text),
    sa.Column("prev_rank", sa.Integer),
    sa.Column("prev_tier", sa.SmallInteger),
    sa.Column("change", sa.Text),
    sa.Column("model_name", sa.Text, nullable=False),
    sa.Column("model_version", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text),
    sa.Column("data_hash", sa.Text),
    sa.Column("generated_at", _TZ),
    sa.PrimaryKeyConstraint(*KEY, name=f"{WATCHLIST_TABLE}_key"),
    # a rerun deletes one scoring's rows: by date and model, not by grid
    sa.Index(f"{WATCHLIST_TABLE}_scoring", "as_of", "model_name", "model_version", "horizon"),
)
CARD = sa.Table(
    CARD_TABLE,
    _METADATA,
    sa.Column("as_of", _TZ, nullable=False),
    sa.Column("horizon", sa.SmallInteger, nullable=False),
    sa.Column("model_name", sa.Text, nullable=False),
    sa.Column("model_version", sa.Text, nullable=False),
    sa.Column("generated_at", _TZ),
    sa.Column("card", JSONB, nullable=False),
    sa.PrimaryKeyConstraint("as_of", "horizon", "model_name", "model_version"),
)
GRIDS = sa.Table(
    GRIDS_TABLE,
    _METADATA,
    sa.Column("grid_id", sa.Text, primary_key=True),
    *(sa.Column(name, sa.Text) for name in GRID_COLUMNS[1:]),
    sa.Column("updated_at", _TZ, nullable=False, server_default=sa.func.now()),
)
SCHEMA = sa.Table(
    SCHEMA_TABLE,
    _METADATA,
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("migrated_at", _TZ, nullable=False, server_default=sa.func.now()),
)


def sink_url(flag: str | None, configured: str | None) -> str | None:
    """The sink to write to: ``--sink``, else ``RISKWARN_SINK``, else ``[sink] url``."""
    return flag or os.environ.get(SINK_ENV) or configured


@dataclass
class WatchlistSink:
    """A PostgreSQL database that receives every scoring's watchlist and card.

    :meth:`open` checks, before any work, that the server answers, accepts the
    credentials and holds no newer riskwarn schema; :meth:`write` does the rest in one
    transaction.
    """

    url: str

    def __post_init__(self) -> None:
        self._url = check_sink_url(self.url)
        self._engine: sa.Engine | None = None

    @property
    def shown(self) -> str:
        """The URL as it may be printed: the password masked."""
        return masked_url(self._url)

    def open(self) -> WatchlistSink:
        """Connect and check the schema version; a clear error (exit 2) if not usable."""
        self._engine = sa.create_engine(
            self._url,
            poolclass=sa.pool.NullPool,
            connect_args={"connect_timeout": _CONNECT_TIMEOUT_S, "application_name": "riskwarn"},
        )
        with self._connect() as conn:
            _check_version(_version(conn), self.shown)
        return self

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def write(
        self, batches: Iterable[pd.DataFrame], card: dict, grids: pd.DataFrame | None = None
    ) -> int:
        """Replace this scoring's rows (its as-of date, horizon and model) with ``batches``.

        Parameters
        ----------
        batches : iterable of DataFrame
            The watchlist rows (every grid), in one frame or several; each holds at
            least the key columns.
        card : dict
            The model card of the scoring (``model_card.json``).
        grids : DataFrame, optional
            The grids table: its id, name, town, district and type (those it has) go to
            ``riskwarn_grids``, inserted or updated.

        Returns
        -------
        int
            Rows written.
        """
        if self._engine is None:
            self.open()
        try:
            with self._engine.begin() as conn:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
                _migrate(conn, _check_version(_version(conn), self.shown))
                n = _replace(conn, iter(batches), card)
                if grids is not None:
                    _upsert_grids(conn, grids)
                return n
        except (sa.exc.DBAPIError, psycopg.Error) as exc:
            raise RiskwarnError(
                f"writing the watchlist into {self.shown} failed, so nothing of this scoring "
                f"is in the database (its earlier rows are as they were): {_reason(exc)} "
                "The watchlist files were written; score again once the database is fixed."
            ) from None

    def _connect(self) -> sa.Connection:
        try:
            return self._engine.connect()
        except sa.exc.DBAPIError as exc:
            raise RiskwarnError(_connection_problem(self.shown, self._url, exc)) from None


def _reason(exc: Exception) -> str:
    """The server's own message, first line, without SQLAlchemy's wrapping."""
    orig = getattr(exc, "orig", exc)
    text = str(orig).strip().splitlines()
    return (text[0] if text else type(orig).__name__).rstrip(".") + "."


def _connection_problem(shown: str, url: sa.URL, exc: sa.exc.DBAPIError) -> str:
    message = str(exc.orig)
    low = message.lower()
    nothing = " Nothing was scored or written."
    if "password authentication failed" in low or "no password supplied" in low:
        return (
            f"the database {shown} refused user {url.username!r}: wrong or missing password. "
            "Put it in PGPASSWORD or a .pgpass line host:port:db:user:password (chmod 600)."
            + nothing
        )
    if "does not exist" in low and "database" in low:
        return f"the database {url.database!r} does not exist on {shown}: create it." + nothing
    if "role" in low and "does not exist" in low:
        return f"the user {url.username!r} does not exist on {shown}." + nothing
    if "no pg_hba.conf entry" in low:
        return (
            f"the server {shown} does not let user {url.username!r} in from this machine "
            "(no pg_hba.conf entry): ask its administrator." + nothing
        )
    return (
        f"cannot reach the database {shown}: {_reason(exc)} Check the host and port, that "
        "the server runs and accepts TCP connections (listen_addresses, firewall)." + nothing
    )


def _version(conn: sa.Connection) -> int:
    """The tables' schema version: 0 when riskwarn has not made them yet."""
    inspector = sa.inspect(conn)
    if not inspector.has_table(SCHEMA_TABLE):
        if inspector.has_table(WATCHLIST_TABLE):
            raise RiskwarnError(
                f"the database has a table {WATCHLIST_TABLE} that riskwarn did not make (no "
                f"{SCHEMA_TABLE}): rename it, or point --sink at another database."
            )
        return 0
    return int(conn.execute(sa.select(sa.func.max(SCHEMA.c.version))).scalar() or 0)


def _check_version(version: int, shown: str) -> int:
    """``version``, or an error when the tables are of a newer riskwarn."""
    if version > SCHEMA_VERSION:
        raise RiskwarnError(
            f"the riskwarn tables in {shown} are at schema version {version}, newer "
            f"than this riskwarn's {SCHEMA_VERSION}: install the newer riskwarn on this machine "
            "before scoring into that database. Nothing was scored or written."
        )
    return version


def _create_v1(conn: sa.Connection) -> None:
    _METADATA.create_all(conn)
    _create_view(conn)


def _add_plan_v2(conn: sa.Connection) -> None:
    # the plan: which grids the teams take, for how long; and what was done for a grid
    for name, kind in (
        ("in_plan", "BOOLEAN"),
        ("plan_periods", "SMALLINT"),
        ("periods_since_intervention", "SMALLINT"),
    ):
        conn.execute(
            sa.text(f"ALTER TABLE {WATCHLIST_TABLE} ADD COLUMN IF NOT EXISTS {name} {kind}")
        )
    _create_view(conn)


#: Forward migrations: ``MIGRATIONS[v]`` takes the tables from version ``v - 1`` to ``v``.
MIGRATIONS = {1: _create_v1, 2: _add_plan_v2}


def _migrate(conn: sa.Connection, version: int) -> None:
    for step in range(version + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[step](conn)
        conn.execute(SCHEMA.delete())
        conn.execute(SCHEMA.insert().values(version=step))


def _create_view(conn: sa.Connection) -> None:
    # Constant text: the view reads every column, so it is replaced (grants kept) when
    # a scoring adds one; each grid's newest as-of date, the latest scoring of it first.
    conn.execute(
        sa.text(
            f"CREATE OR REPLACE VIEW {LATEST_VIEW} AS SELECT DISTINCT ON (grid_id) * "
            f"FROM {WATCHLIST_TABLE} ORDER BY grid_id, as_of DESC, generated_at DESC"
        )
    )


def _extra_type(name: str):
    for pattern, kind in _EXTRA.items():
        if pattern.fullmatch(name):
            return kind
    return None


def _table(conn: sa.Connection, frame_columns: list[str]) -> sa.Table:
    """The watchlist table as it is now, with the config-dependent columns this scoring
    brings added first."""
    have = {c["name"] for c in sa.inspect(conn).get_columns(WATCHLIST_TABLE)}
    added = [c for c in frame_columns if c not in have and _extra_type(c) is not None]
    preparer = conn.dialect.identifier_preparer
    for name in added:
        kind = _extra_type(name)().compile(dialect=conn.dialect)
        conn.execute(
            sa.text(
                f"ALTER TABLE {WATCHLIST_TABLE} ADD COLUMN IF NOT EXISTS "
                f"{preparer.quote(name)} {kind}"
            )
        )
    if added:
        _create_view(conn)
    return sa.Table(WATCHLIST_TABLE, sa.MetaData(), autoload_with=conn)


def _replace(conn: sa.Connection, batches: Iterator[pd.DataFrame], card: dict) -> int:
    first = next(batches, None)
    if first is None or first.empty:
        raise RiskwarnError("there are no watchlist rows to write into the database.")
    missing = [c for c in KEY if c not in first.columns]
    if missing:
        raise RiskwarnError(f"the watchlist rows lack the key column(s) {missing}.")
    table = _table(conn, list(first.columns))
    columns = [c.name for c in table.columns if c.name in first.columns]
    stage = _stage(conn, table)
    n = _copy(conn, stage, columns, [first], batches)
    # One scoring = one (as-of, horizon, model name, model version): its earlier rows go.
    scorings = (
        sa.select(stage.c.as_of, stage.c.horizon, stage.c.model_name, stage.c.model_version)
        .distinct()
        .subquery()
    )
    conn.execute(
        table.delete().where(
            table.c.as_of == scorings.c.as_of,
            table.c.horizon == scorings.c.horizon,
            table.c.model_name == scorings.c.model_name,
            table.c.model_version == scorings.c.model_version,
        )
    )
    conn.execute(table.insert().from_select(columns, sa.select(*(stage.c[c] for c in columns))))
    _replace_card(conn, first.iloc[0], card)
    return n


def _stage(conn: sa.Connection, table: sa.Table) -> sa.Table:
    """A temporary copy of ``table``'s columns, dropped at the commit."""
    name = f"{table.name}_stage"
    conn.execute(
        sa.text(
            f"CREATE TEMPORARY TABLE {name} (LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
    )
    return sa.Table(name, sa.MetaData(), *(sa.Column(c.name, c.type) for c in table.columns))


def _upsert_grids(conn: sa.Connection, grids: pd.DataFrame) -> None:
    from sqlalchemy.dialects.postgresql import insert

    columns = [c for c in GRID_COLUMNS if c in grids.columns]
    frame = grids[columns].drop_duplicates("grid_id").astype(object)
    frame["grid_id"] = frame["grid_id"].astype(str)
    stage = _stage(conn, GRIDS)
    _copy(conn, stage, columns, [frame])
    statement = insert(GRIDS).from_select(columns, sa.select(*(stage.c[c] for c in columns)))
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["grid_id"],
            set_={
                **{c: statement.excluded[c] for c in columns[1:]},
                "updated_at": sa.func.now(),
            },
        )
    )


def _copy(conn: sa.Connection, stage: sa.Table, columns: list[str], *parts) -> int:
    """COPY the rows of every frame into the staging table; the row count."""
    from psycopg import sql

    integers = {c.name for c in stage.columns if isinstance(c.type, sa.Integer)}
    cursor = conn.connection.driver_connection.cursor()
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(stage.name), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    n = 0
    with cursor, cursor.copy(statement) as copy:
        for part in parts:
            for frame in part:
                for row in _rows(frame, columns, integers):
                    copy.write_row(row)
                n += len(frame)
    return n


def _rows(frame: pd.DataFrame, columns: list[str], integers: set[str]) -> Iterator[tuple]:
    """The frame's rows as Python values: instants aware, missing as None, JSON as text,
    whole numbers as int (a nullable integer read back from Parquet comes as float)."""
    values = []
    for name in columns:
        column = frame[name]
        if name in ("as_of", "generated_at"):
            # aware instants as they are; a naive one (Spark's partition) is already UTC
            stamps = pd.to_datetime(column, utc=True)
            values.append([None if pd.isna(t) else t.to_pydatetime() for t in stamps])
        elif name == "reasons":
            values.append([json_text([] if r is None else r) for r in column])
        else:
            plain = [plain_value(v) for v in column.tolist()]  # NaN and <NA> are None
            if name in integers:
                plain = [None if v is None else int(v) for v in plain]
            values.append(plain)
    return zip(*values, strict=True)


def _replace_card(conn: sa.Connection, row: pd.Series, card: dict) -> None:
    stamp = pd.to_datetime(row["as_of"], utc=True)  # as _rows reads it
    key = {
        "as_of": stamp.to_pydatetime(),
        "horizon": int(row["horizon"]),
        "model_name": str(row["model_name"]),
        "model_version": str(row["model_version"]),
    }
    conn.execute(CARD.delete().where(*(CARD.c[k] == v for k, v in key.items())))
    generated = card.get("generated_at") or row.get("generated_at")
    conn.execute(
        CARD.insert().values(
            **key,
            generated_at=None if generated is None else pd.Timestamp(generated).to_pydatetime(),
            card=plain_value(card),
        )
    )
