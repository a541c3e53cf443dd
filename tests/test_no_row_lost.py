"""Property: for randomly corrupted tables, no row is ever lost.

rows read = rows accepted + rows quarantined, every quarantined row names a real
row number once, and what is accepted validates cleanly a second time.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskwarn.config import Config, DataConfig
from riskwarn.data.validate import load_dataset
from tests.conftest import base_tables, write_tables

CONFIG = Config(data=DataConfig(end="2024-01-01"))
JUNK = st.one_of(
    st.just(""),
    st.sampled_from(["0", "-1", "7", "2.5", "1e3", "nan", "inf", "true", "G1", "G99", "P1"]),
    st.sampled_from(["2023-01-05", "2023-01-05T25:00", "2030-01-01", "2023-02-30", "x"]),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=8),
)


def _petitions(n: int) -> pd.DataFrame:
    days = pd.date_range("2023-01-02", periods=n, freq="13h")
    return pd.DataFrame(
        {
            "case_id": [f"P{i}" for i in range(n)],
            "grid_id": [f"G{1 + i % 4}" for i in range(n)],
            "received_at": days.strftime("%Y-%m-%dT%H:%M:%S"),
            "category": ["land", "wage", "other"] * (n // 3) + ["land"] * (n % 3),
            "group_size": [str(1 + i % 7) for i in range(n)],
            "level": [str(1 + i % 6) for i in range(n)],
            "closed_at": (days + pd.Timedelta("3D")).strftime("%Y-%m-%d"),
        }
    )


@st.composite
def corrupted(draw):
    n = draw(st.integers(min_value=1, max_value=30))
    table = _petitions(n)
    columns = list(table.columns)
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        i = draw(st.integers(min_value=0, max_value=n - 1))
        col = draw(st.sampled_from(columns))
        table.loc[i, col] = draw(JUNK)
    dup = draw(st.lists(st.integers(min_value=0, max_value=n - 1), max_size=3))
    table = pd.concat([table, table.iloc[dup]], ignore_index=True)
    ragged = draw(st.lists(st.integers(min_value=1, max_value=10), max_size=3))
    return table, ragged


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted())
def test_no_row_is_lost(case):
    table, ragged = case
    with tempfile.TemporaryDirectory() as tmp:
        tables = base_tables()
        tables["petitions"] = table
        folder = write_tables(Path(tmp), tables)
        path = folder / "petitions.csv"
        with open(path, "a", encoding="utf-8") as fh:
            for width in ragged:
                if width != len(table.columns):
                    fh.write(",".join(["x"] * width) + "\n")
        n_rows = len(table) + sum(w != len(table.columns) for w in ragged)
        dataset = load_dataset(folder, CONFIG)
        report = dataset.report.tables["petitions"]
        quarantine = dataset.quarantine["petitions"]
        assert report.rows_read == n_rows
        assert report.rows_read == report.rows_accepted + report.rows_quarantined
        assert len(dataset.petitions) == report.rows_accepted
        assert len(quarantine) == report.rows_quarantined
        numbers = quarantine["row_number"].tolist()
        assert len(set(numbers)) == len(numbers)
        assert all(1 <= r <= n_rows for r in numbers)
        assert quarantine["reason"].str.len().gt(0).all()
        assert dataset.petitions["case_id"].is_unique
        # What was accepted is clean: validating it again quarantines nothing.
        tables["petitions"] = dataset.petitions
        again = load_dataset(write_tables(Path(tmp) / "again", tables, fmt="parquet"), CONFIG)
        assert again.report.tables["petitions"].rows_quarantined == 0
        assert len(again.petitions) == len(dataset.petitions)
