"""Outputs other users read: the umask's modes, one whole set at a time, one writer, plain CSV.

Each guarantee was shown to be caught by breaking the code on purpose once: without
the ``chmod`` in ``riskwarn.atomic`` the mode tests see 0600; with the set's files
renamed into the folder one by one (the old ``write_all_atomic``) the kill test
finds mixed sets; without the lock the two-writers test sees both exit 0; without
``neutralise_formulas`` the CSV test reads the formula back.
"""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from riskwarn.atomic import (
    CURRENT,
    VERSIONS,
    FolderBusy,
    atomic_dir,
    current_set,
    folder_lock,
    publish_set,
    write_atomic,
    write_text_atomic,
)
from riskwarn.spreadsheet import neutralise_formulas
from tests.conftest import HIST_RATE_CONFIG, registered_city
from tests.test_watchlist import build, scored

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def umask():
    """Set the process umask for a test, and restore it after."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize(
    "mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)]
)
def test_every_writer_gives_the_umask_mode(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    assert _mode(write_text_atomic(tmp_path / "a.txt", "x")) == file_mode
    assert _mode(write_atomic(tmp_path / "b.bin", lambda p: p.write_bytes(b"x"))) == file_mode
    with atomic_dir(tmp_path / "parts") as folder:  # as Spark writes a folder of parts
        folder.mkdir()
        (folder / "part-0.parquet").write_bytes(b"x")
        os.chmod(folder / "part-0.parquet", 0o600)
    assert _mode(tmp_path / "parts") == dir_mode
    assert _mode(tmp_path / "parts" / "part-0.parquet") == file_mode
    w = build(scored(n=20))
    from riskwarn.scoring.files import write_watchlist

    paths = write_watchlist(w, tmp_path / "watch", card={"a": 1})
    for path in paths:
        assert _mode(path) == file_mode, path
    assert _mode(current_set(tmp_path / "watch")) == dir_mode


def test_quarantine_and_report_get_the_umask_mode(tmp_path, umask):
    from riskwarn.cli import main
    from tests.conftest import base_tables, write_tables

    umask(0o022)
    tables = base_tables()
    tables["petitions"].loc[0, "received_at"] = "not a date"
    data = write_tables(tmp_path / "data", tables)
    assert main(["validate", "--data", str(data), "--quarantine", str(tmp_path / "q")]) in (0, 1)
    written = [p for p in (tmp_path / "q").iterdir() if p.is_file()]
    assert written and all(_mode(p) == 0o644 for p in written)


def test_a_published_set_switches_as_one_and_keeps_the_latest_versions(tmp_path):
    def writers(tag):
        return {n: (lambda p, t=tag: p.write_text(t)) for n in ("a.txt", "b.txt")}

    for i in range(7):
        publish_set(tmp_path, writers(f"v{i}"), label=f"2025-01-{i + 1:02d}", keep=3)
        assert (tmp_path / "a.txt").read_text() == (tmp_path / "b.txt").read_text() == f"v{i}"
    assert (tmp_path / CURRENT).is_symlink() and (tmp_path / "a.txt").is_symlink()
    kept = sorted(p.name for p in (tmp_path / VERSIONS).iterdir())
    assert len(kept) == 3 and kept[-1].startswith("2025-01-07")

    # A writer that fails leaves the current set as it was, and no version behind.
    def failing(p):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        publish_set(tmp_path, {"a.txt": lambda p: p.write_text("new"), "b.txt": failing}, keep=3)
    assert (tmp_path / "a.txt").read_text() == "v6"
    assert len(list((tmp_path / VERSIONS).iterdir())) == 3
    # A folder of an older layout (plain files) becomes a published one.
    old = tmp_path / "old"
    old.mkdir()
    (old / "a.txt").write_text("plain")
    assert current_set(old) == old
    publish_set(old, writers("v"))
    assert (old / "a.txt").is_symlink() and (old / "a.txt").read_text() == "v"


# A writer that publishes watchlists as fast as it can, each set tagged in every file.
_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from riskwarn.scoring.files import write_watchlist
    from tests.test_watchlist import build, scored
    out = Path(sys.argv[1])
    i = int(sys.argv[2])
    w = build(scored(n=300))
    print("ready", flush=True)
    while True:
        i += 1
        w["generated_at"] = f"set-{i}"
        write_watchlist(w, out, card={"set": f"set-{i}"})
        print("wrote", flush=True)
    """
)


def _read_one_set(folder: Path) -> str:
    """Read the files where a dashboard opens them; assert they are whole and of one set."""
    from riskwarn.reports.folder import read_watchlist_folder

    current = folder
    parquet = pd.read_parquet(current / "watchlist.parquet")
    csv = pd.read_csv(current / "watchlist.csv")
    records = json.loads((current / "watchlist.json").read_text(encoding="utf-8"))
    card = json.loads((current / "model_card.json").read_text(encoding="utf-8"))
    tags = {*parquet["generated_at"], *csv["generated_at"], *(r["generated_at"] for r in records)}
    assert len(parquet) == len(csv) == len(records) == 300
    assert tags == {card["set"]}, tags
    assert read_watchlist_folder(folder).card["set"] == card["set"]
    return card["set"]


def test_a_writer_killed_at_random_points_leaves_one_complete_set(tmp_path):
    out = tmp_path / "watch"
    rng = random.Random(7)
    seen = set()
    for round_ in range(12):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(out), str(1000 * round_)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        # Wait for this round's first complete set, so that a slow machine still
        # kills a writer that has published; then kill at a random point after it.
        assert proc.stdout.readline().strip() == "wrote"
        time.sleep(rng.uniform(0.0, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        tag = _read_one_set(out)
        assert int(tag.removeprefix("set-")) > 1000 * round_  # a set of this round
        seen.add(tag)
        assert len([p for p in (out / VERSIONS).iterdir() if p.is_dir()]) <= 6
    assert len(seen) == 12


def test_two_writers_of_one_folder_are_one_at_a_time(tmp_path):
    with folder_lock(tmp_path):
        with pytest.raises(FolderBusy):
            with folder_lock(tmp_path):
                pass
        # another process is refused too
        code = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from riskwarn.atomic import folder_lock, FolderBusy\n"
                "try:\n    with folder_lock(sys.argv[1]): sys.exit(0)\n"
                "except FolderBusy: sys.exit(3)",
                str(tmp_path),
            ],
            cwd=REPO,
        ).returncode
        assert code == 3
    with folder_lock(tmp_path):  # released: free again
        pass


FORMULAS = ['=HYPERLINK("http://x","click")', "+SUM(1,2)", "-2+3", "@cmd", "\t=1"]


def test_csv_cells_never_start_a_formula_and_parquet_keeps_the_value(tmp_path):
    frame = scored(n=len(FORMULAS) + 1)
    frame["grid_id"] = [*FORMULAS, "G-ok"]
    w = build(frame)
    from riskwarn.scoring.files import write_watchlist

    write_watchlist(w, tmp_path)
    text = (tmp_path / "watchlist.csv").read_text(encoding="utf-8")
    cells = pd.read_csv(tmp_path / "watchlist.csv", dtype=str, keep_default_na=False)
    for value in cells.to_numpy().ravel():
        assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    assert set(cells["grid_id"]) == {"'" + f for f in FORMULAS} | {"G-ok"}
    assert "'=HYPERLINK" in text
    assert set(pd.read_parquet(tmp_path / "watchlist.parquet")["grid_id"]) == {*FORMULAS, "G-ok"}
    records = json.loads((tmp_path / "watchlist.json").read_text(encoding="utf-8"))
    assert {r["grid_id"] for r in records} == {*FORMULAS, "G-ok"}


def test_neutralise_formulas_leaves_numbers_and_missing_values():
    frame = pd.DataFrame(
        {
            "n": [-1.5, 2.0, None],
            "s": ["-x", None, "ok"],
            "c": pd.Categorical(["@a", "b", "@a"]),
            "=head": [1, 2, 3],
        }
    )
    out = neutralise_formulas(frame)
    assert out["n"].tolist()[:2] == [-1.5, 2.0] and pd.isna(out["n"].iloc[2])
    assert out["s"].tolist()[0] == "'-x" and pd.isna(out["s"].iloc[1])
    assert out["c"].tolist() == ["'@a", "b", "'@a"]
    assert list(out.columns)[-1] == "'=head"
    assert frame["s"].iloc[0] == "-x"  # the input is unchanged


OUTPUTS_CITY = HIST_RATE_CONFIG.replace("NAME", "rw-outputs")


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """A small simulated city and a model of it in the session's registry."""

    folder = tmp_path_factory.mktemp("outputs_city")
    _, _, sim = registered_city(folder, OUTPUTS_CITY, n_grids=40, n_periods=70, seed=5, store=False)
    last = sim.end.tz_convert("Asia/Shanghai").tz_localize(None).normalize()
    days = [f"{d:%Y-%m-%d}" for d in pd.date_range(end=last, periods=6, freq="W-MON")[:-2]]
    return folder / "data", days


_SCORE = "import sys\nfrom riskwarn.cli import main\nsys.exit(main(sys.argv[1:]))"


def _score_process(data: Path, day: str, out: Path) -> subprocess.Popen:
    args = ["score", "--data", str(data), "--model", "models:/rw-outputs/1"]
    return subprocess.Popen(
        [sys.executable, "-c", _SCORE, *args, "--as-of", day, "--out", str(out)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _one_scoring(folder: Path) -> tuple:
    parquet = pd.read_parquet(folder / "watchlist.parquet")
    csv = pd.read_csv(folder / "watchlist.csv")
    records = json.loads((folder / "watchlist.json").read_text(encoding="utf-8"))
    card = json.loads((folder / "model_card.json").read_text(encoding="utf-8"))
    stamps = {*parquet["generated_at"], *csv["generated_at"], *(r["generated_at"] for r in records)}
    assert stamps == {card["generated_at"]}, stamps
    assert len(parquet) == len(csv) == len(records) == 40
    return card["generated_at"], str(parquet["as_of"].iloc[0])


def test_riskwarn_score_killed_at_random_points_leaves_one_complete_set(registered, tmp_path):
    data, days = registered
    out = tmp_path / "watch"
    started = time.monotonic()
    first = _score_process(data, days[0], out)
    assert first.wait(timeout=300) == 0, first.stderr.read()
    took = time.monotonic() - started
    before = _one_scoring(out)
    rng = random.Random(3)
    for i in range(3):
        proc = _score_process(data, days[1 + i % 3], out)
        # the second half of a run: features, scoring and the writes
        time.sleep(rng.uniform(0.5, 1.05) * took)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _one_scoring(out)[0] >= before[0]  # old or new, never a mix
    # and the folder is not left locked by the killed runs (the latest date: a killed
    # run may have finished first, and an earlier date would not replace a later one)
    proc = _score_process(data, days[3], out)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert _one_scoring(out)[1].startswith(days[3])


def test_score_drops_personal_columns_on_request_and_warns_of_a_recent_gap(
    registered, tmp_path, capsys
):
    import shutil

    from riskwarn.cli import main
    from riskwarn.data.contract import TABLES

    data, days = registered
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    # the busiest table loses the two weeks before the as-of date (an extraction gap)
    # and gains a column that names the people who called
    sizes = {n: len(pd.read_parquet(copy / f"{n}.parquet")) for n in ("petitions", "incidents")}
    busy = max(sizes, key=sizes.get)
    frame = pd.read_parquet(copy / f"{busy}.parquet")
    when = pd.to_datetime(frame[TABLES[busy].time_column]).dt.tz_convert("Asia/Shanghai")
    day = pd.Timestamp(days[-1])
    local = when.dt.tz_localize(None)
    frame = frame[(local < day - pd.Timedelta(weeks=2)) | (local >= day)]
    frame = frame.assign(**{"报警人电话": "withheld"})
    frame.to_parquet(copy / f"{busy}.parquet", index=False)
    args = ["score", "--data", str(copy), "--model", "models:/rw-outputs/1"]
    args += ["--as-of", days[-1], "--out", str(tmp_path / "watch")]
    capsys.readouterr()
    assert main(args) == 2
    assert "--drop-pii" in capsys.readouterr().err
    assert main([*args, "--drop-pii"]) == 0
    printed = capsys.readouterr().out
    assert "warning:" in printed and f"{busy} has no rows at all in 2 of the" in printed
    card = json.loads((tmp_path / "watch" / "model_card.json").read_text(encoding="utf-8"))
    assert [g["table"] for g in card["data_warnings"]] == [busy]
    assert len(card["data_warnings"][0]["periods"]) == 2
