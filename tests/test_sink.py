"""The database sink against a real PostgreSQL server started here (tests/postgres.py).

Two as-of dates, a rerun (no duplicates), a scoring killed mid-write (the previous rows
intact, readers never see a half-written week), a read-only role reading the view with
the README's SQL, and the errors that must stop a scoring before it runs (wrong
password, unreachable port, a newer schema) with no password in any output.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from riskwarn.cli import main
from riskwarn.config import config_from_dict
from riskwarn.errors import ConfigError
from riskwarn.scoring.sink import SCHEMA_VERSION, sink_url
from tests.conftest import registered_city
from tests.postgres import SUPERUSER_PASSWORD, PostgresServer, server_binaries
from tests.test_tracking import _as_of_dates

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
CONFIG = """
[data]
end = "{end}"
[label]
horizon = 2
[backtest]
refit_every = 26
models = ["hist_rate", "lightgbm"]
[train]
model = "lightgbm"
registered_name = "rw-sink"
"""
_SCORE = "import sys\nfrom riskwarn.cli import main\nsys.exit(main(sys.argv[1:]))"


@pytest.fixture(scope="module")
def server():
    if server_binaries() is None:
        pytest.skip(
            "PostgreSQL is not installed (Debian package 'postgresql'; .ci/run installs it): "
            "the database sink was not tested against a server."
        )
    pg = PostgresServer().start()
    yield pg
    pg.stop()


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """A small city trained and registered once; its last three as-of dates."""
    folder = tmp_path_factory.mktemp("sink_city")
    args, config, _ = registered_city(folder, CONFIG, n_grids=40, n_periods=80, seed=3)
    return {"folder": folder, "args": args, "dates": _as_of_dates(folder, config)[-3:]}


@pytest.fixture(autouse=True)
def _password(monkeypatch):
    # The password reaches riskwarn as libpq reads it, from the environment.
    monkeypatch.setenv("PGPASSWORD", SUPERUSER_PASSWORD)
    monkeypatch.delenv("RISKWARN_SINK", raising=False)


def _score(city, day: str, out: Path, sink: str | None, *extra: str) -> int:
    model = ["--model", "models:/rw-sink/1", "--as-of", day, "--out", str(out)]
    return main(["score", *city["args"], *model, *(["--sink", sink] if sink else []), *extra])


def _rows(server, where: str = "", params=None) -> pd.DataFrame:
    rows = server.execute(
        "SELECT grid_id, as_of, horizon, rank, score, tier, reasons, model_version, "
        f"generated_at, events_q10, events_q90 FROM riskwarn_watchlist {where} "
        "ORDER BY as_of, rank",
        params,
    )
    columns = "grid_id as_of horizon rank score tier reasons model_version generated_at q10 q90"
    return pd.DataFrame(rows, columns=columns.split())


def _clear(server) -> None:
    server.execute(
        "DROP VIEW IF EXISTS riskwarn_watchlist_latest; DROP TABLE IF EXISTS "
        "riskwarn_watchlist, riskwarn_model_card, riskwarn_grids, riskwarn_schema"
    )


def test_two_dates_then_a_rerun_replaces_without_duplicates(server, city, tmp_path):
    _clear(server)
    out = tmp_path / "watch"
    first, second = city["dates"][-2:]
    assert _score(city, first, out, server.url()) == 0
    assert _score(city, second, out, server.url()) == 0
    files = pd.read_parquet(out / "watchlist.parquet")
    n = len(files)
    db = _rows(server)
    assert len(db) == 2 * n and db["as_of"].nunique() == 2
    assert not db.duplicated(["grid_id", "as_of", "horizon", "model_version"]).any()
    # the newest date's rows are the files' rows, value for value
    latest = db[db["as_of"] == db["as_of"].max()].reset_index(drop=True)
    assert latest["grid_id"].tolist() == files["grid_id"].tolist()
    assert (latest["rank"].to_numpy() == files["rank"].to_numpy()).all()
    assert latest["score"].tolist() == files["score"].tolist()
    assert latest["q10"].tolist() == files["events_q10"].astype(int).tolist()
    assert latest["as_of"].iloc[0] == pd.Timestamp(files["as_of"].iloc[0]).to_pydatetime()
    tiers = [None if pd.isna(t) else int(t) for t in files["tier"]]
    assert [None if pd.isna(t) else int(t) for t in latest["tier"]] == tiers
    first_reason = files["reasons"].iloc[0][0]
    assert latest["reasons"].iloc[0][0]["text_zh"] == first_reason["text_zh"]
    # the risk curve's columns came with the scoring (horizon 2)
    names = {
        r[0]
        for r in server.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = "
            "'riskwarn_watchlist'"
        )
    }
    assert {"risk_h1", "risk_h2", "events_q10", "events_q90"} <= names
    # the view: one row per grid, its newest date
    view = server.execute("SELECT grid_id, as_of FROM riskwarn_watchlist_latest")
    assert len(view) == n and {a for _, a in view} == {db["as_of"].max()}
    cards = server.execute("SELECT as_of, card FROM riskwarn_model_card ORDER BY as_of")
    assert len(cards) == 2 and cards[-1][1] == json.loads((out / "model_card.json").read_text())
    towns = server.execute("SELECT count(*), count(town) FROM riskwarn_grids")
    assert towns == [(n, n)]
    # a rerun of the same date replaces its rows: same count, no duplicates, new stamp
    stamp = latest["generated_at"].iloc[0]
    time.sleep(1.1)  # generated_at has whole seconds
    assert _score(city, second, out, server.url()) == 0
    again = _rows(server)
    assert len(again) == 2 * n
    assert not again.duplicated(["grid_id", "as_of", "horizon", "model_version"]).any()
    assert (again[again["as_of"] == db["as_of"].max()]["generated_at"] > stamp).all()
    assert server.execute("SELECT count(*) FROM riskwarn_model_card") == [(2,)]
    assert server.execute("SELECT version FROM riskwarn_schema") == [(SCHEMA_VERSION,)]


def test_a_scoring_killed_mid_write_leaves_the_previous_rows(server, city, tmp_path):
    """The writer is held inside its transaction (after it replaced the week's rows, before
    the card) by a lock the test takes, killed there, and nothing of it remains."""
    _clear(server)
    out = tmp_path / "watch"
    day = city["dates"][-1]
    assert _score(city, day, out, server.url()) == 0
    before = _rows(server)
    blocker = server.connect()
    blocker.execute("LOCK TABLE riskwarn_model_card IN ACCESS EXCLUSIVE MODE")
    model = ["--model", "models:/rw-sink/1", "--as-of", day, "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-c", _SCORE, "score", *city["args"], *model, "--sink", server.url()],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        waiting = []
        for _ in range(600):  # the writer reaches the card (up to a minute)
            waiting = server.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'riskwarn' "
                "AND wait_event_type = 'Lock'"
            )
            if waiting or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert waiting, proc.stderr.read() if proc.poll() is not None else "writer never blocked"
        # mid-write: the writer has deleted and re-inserted the week, uncommitted; a
        # reader still sees the previous week, whole
        assert _rows(server).equals(before)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        blocker.rollback()
        blocker.close()
        if proc.poll() is None:
            proc.kill()
    for _ in range(300):  # the server ends the dead client's transaction
        if not server.execute("SELECT 1 FROM pg_stat_activity WHERE application_name = 'riskwarn'"):
            break
        time.sleep(0.1)
    assert _rows(server).equals(before)
    assert server.execute("SELECT count(*) FROM riskwarn_model_card") == [(1,)]


def _readme_sql() -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(r"```sql\n(.*?)```", text, flags=re.S)


def test_a_read_only_role_reads_the_view_with_the_readme_sql(server, city, tmp_path):
    import psycopg

    _clear(server)
    out = tmp_path / "watch"
    for day in city["dates"][-2:]:
        assert _score(city, day, out, server.url()) == 0
    grants, query = _readme_sql()
    server.execute("DROP ROLE IF EXISTS dashboard")
    for statement in filter(str.strip, grants.split(";")):
        server.execute(statement)
    password = re.search(r"PASSWORD '([^']+)'", grants).group(1)
    with server.connect(user="dashboard", password=password) as conn:
        rows = conn.execute(query).fetchall()
        # this week's tier-1 grids, per town, in rank order
        files = pd.read_parquet(out / "watchlist.parquet")
        tier1 = files[files["tier"] == 1]
        assert sorted(r[1] for r in rows) == sorted(tier1["grid_id"])
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM riskwarn_watchlist")
    with server.connect(user="dashboard", password=password) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM riskwarn_model_card")


def _cli(city, day, out, sink, env_extra) -> subprocess.CompletedProcess:
    model = ["--model", "models:/rw-sink/1", "--as-of", day, "--out", str(out)]
    env = {**os.environ, **env_extra}
    return subprocess.run(
        [sys.executable, "-c", _SCORE, "score", *city["args"], *model, "--sink", sink],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_bad_credentials_or_port_stop_before_anything_with_no_password_shown(
    server, city, tmp_path
):
    _clear(server)
    day = city["dates"][-1]
    secret = "wrong-secret-9d2c"
    cases = {
        "wrong password": (server.url(), {"PGPASSWORD": secret}, "refused user"),
        "password in the URL": (
            server.url().replace("riskwarn@", f"riskwarn:{secret}@"),
            {"PGPASSWORD": ""},
            "refused user",
        ),
        "unreachable port": (server.url(port=1), {}, "cannot reach the database"),
    }
    for name, (url, env, said) in cases.items():
        out = tmp_path / name.replace(" ", "_")
        done = _cli(city, day, out, url, env)
        output = done.stdout + done.stderr
        assert done.returncode == 2, (name, output)
        assert said in output and "Nothing was scored or written" in output, (name, output)
        assert secret not in output and SUPERUSER_PASSWORD not in output, name
        assert "Traceback" not in output, name
        assert not out.exists(), name  # no watchlist, not even the folder
    assert not server.execute("SELECT 1 FROM pg_tables WHERE tablename LIKE 'riskwarn%'")


def test_a_newer_schema_is_refused_before_scoring(server, city, tmp_path, capsys):
    _clear(server)
    day = city["dates"][-1]
    assert _score(city, day, tmp_path / "first", server.url()) == 0
    server.execute("UPDATE riskwarn_schema SET version = %s", (SCHEMA_VERSION + 1,))
    try:
        before = _rows(server)
        capsys.readouterr()
        out = tmp_path / "second"
        assert _score(city, day, out, server.url()) == 2
        said = capsys.readouterr()
        assert "newer than this riskwarn" in said.out + said.err
        assert not out.exists() and _rows(server).equals(before)
    finally:
        server.execute("UPDATE riskwarn_schema SET version = %s", (SCHEMA_VERSION,))


def test_the_sink_comes_from_the_flag_then_the_environment_then_the_config(monkeypatch):
    cfg = config_from_dict({"sink": {"url": "postgresql://dash@db.example:5432/city"}})
    assert sink_url(None, cfg.sink.url) == "postgresql://dash@db.example:5432/city"
    monkeypatch.setenv("RISKWARN_SINK", "postgresql://env@h/db")
    assert sink_url(None, cfg.sink.url) == "postgresql://env@h/db"
    assert sink_url("postgresql://flag@h/db", cfg.sink.url) == "postgresql://flag@h/db"
    # a config is logged with every model: a password in it is refused, and not repeated
    with pytest.raises(ConfigError, match="PGPASSWORD") as err:
        config_from_dict({"sink": {"url": "postgresql://dash:hunter2@h/db"}})
    assert "hunter2" not in str(err.value)
    for bad in ("mysql://u@h/db", "postgresql://u@h", "not a url"):
        with pytest.raises(ConfigError):
            config_from_dict({"sink": {"url": bad}})


def test_tables_of_an_older_riskwarn_are_migrated_forward(server, city, tmp_path):
    import sqlalchemy as sa

    from riskwarn.config import check_sink_url
    from riskwarn.scoring.sink import MIGRATIONS, SCHEMA

    _clear(server)
    engine = sa.create_engine(check_sink_url(server.url()), poolclass=sa.pool.NullPool)
    with engine.begin() as conn:  # the tables as the first schema made them
        MIGRATIONS[1](conn)
        conn.execute(SCHEMA.insert().values(version=1))
    engine.dispose()
    columns = "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
    assert ("in_plan",) not in server.execute(columns, ("riskwarn_watchlist",))
    assert _score(city, city["dates"][-1], tmp_path / "watch", server.url()) == 0
    assert server.execute("SELECT version FROM riskwarn_schema") == [(SCHEMA_VERSION,)]
    for table in ("riskwarn_watchlist", "riskwarn_watchlist_latest"):
        have = {r[0] for r in server.execute(columns, (table,))}
        assert {"in_plan", "plan_periods"} <= have, table
    # no capacity in this model's config: the plan is missing, not false
    assert server.execute("SELECT count(*) FROM riskwarn_watchlist WHERE in_plan IS NULL") == [
        (40,)
    ]
