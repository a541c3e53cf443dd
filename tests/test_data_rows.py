"""Row problems never stop the run and never vanish: they go to quarantine."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from riskwarn.cli import main
from riskwarn.data.contract import TABLES
from riskwarn.data.quarantine import write_quarantine
from riskwarn.data.validate import load_dataset
from tests.conftest import base_tables, write_tables


def _with_row(table: str, **values) -> dict[str, pd.DataFrame]:
    tables = base_tables()
    row = tables[table].iloc[[0]].copy()
    for k, v in values.items():
        row[k] = v
    tables[table] = pd.concat([tables[table], row], ignore_index=True)
    return tables


def _quarantined(tmp_path, config, tables, table, fmt="csv"):
    dataset = load_dataset(write_tables(tmp_path, tables, fmt=fmt), config)
    report = dataset.report.tables[table]
    assert report.balanced
    return dataset, dataset.quarantine[table]


ROW_ERRORS = [
    ("petitions", {"case_id": "P9", "group_size": "many"}, "group_size: not a whole number"),
    ("petitions", {"case_id": "P9", "group_size": "0"}, "group_size: must be >= 1"),
    ("petitions", {"case_id": "P9", "group_size": "2.5"}, "group_size: not a whole number"),
    ("petitions", {"case_id": "P9", "level": "7"}, "level: must be <= 6"),
    ("petitions", {"case_id": "P9", "is_repeat": "perhaps"}, "is_repeat: not true/false"),
    ("petitions", {"case_id": "P9", "received_at": "02/01/2023"}, "received_at: ambiguous date"),
    ("petitions", {"case_id": "P9", "received_at": "yesterday"}, "received_at: not a date-time"),
    ("petitions", {"case_id": "P9", "received_at": ""}, "received_at: missing (required)"),
    ("petitions", {"case_id": "P9", "category": ""}, "category: missing (required)"),
    ("petitions", {"case_id": "P9", "grid_id": "G99"}, "grid_id: not in the grids table"),
    ("petitions", {}, "case_id: duplicate id"),
    ("petitions", {"case_id": "P9", "received_at": "2030-05-01"}, "received_at: after the data"),
    (
        "petitions",
        {"case_id": "P9", "closed_at": "2022-12-01"},
        "closed_at: before received_at",
    ),
    ("disputes", {"case_id": "D9", "status": "closed"}, "status: must be one of"),
    ("disputes", {"case_id": "D9", "resolved_at": "2022-01-01"}, "resolved_at: before reported_at"),
    ("disputes", {"case_id": "D9", "amount": "-3"}, "amount: must be >= 0"),
    ("disputes", {"case_id": "D9", "parties": "0"}, "parties: must be >= 1"),
    ("incidents", {"event_id": "I9", "severity": "5"}, "severity: must be <= 4"),
    ("incidents", {"event_id": "I9", "participants": "-1"}, "participants: must be >= 0"),
    ("incidents", {}, "event_id: duplicate id"),
    ("grids", {"grid_id": "G9", "population": "-1"}, "population: must be >= 0"),
    ("grids", {"grid_id": "G9", "area_km2": "0"}, "area_km2: must be > 0"),
    ("grids", {"grid_id": "G9", "lat": "95"}, "lat: must be <= 90"),
    ("grids", {"grid_id": "G9", "geometry_wkt": "POLYGON((0 0, 1"}, "geometry_wkt: not a polygon"),
]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("table,values,reason", ROW_ERRORS, ids=[r for *_, r in ROW_ERRORS])
def test_row_error_is_quarantined_with_reason(tmp_path, config, table, values, reason, fmt):
    tables = _with_row(table, **values)
    n = len(tables[table])
    dataset, quarantine = _quarantined(tmp_path, config, tables, table, fmt=fmt)
    assert len(quarantine) == 1
    row = quarantine.iloc[0]
    assert reason in row["reason"]
    assert row["row_number"] == n  # the appended row is the last data row
    assert row["source_file"].endswith(f"{table}.{fmt}")
    accepted = getattr(dataset, table)
    assert len(accepted) == n - 1


def test_grid_row_quarantined_takes_its_events_to_quarantine_with_the_cause(tmp_path, config):
    tables = base_tables()
    tables["grids"].loc[0, "population"] = "-10"  # G1
    dataset = load_dataset(write_tables(tmp_path, tables), config)
    reasons = dataset.quarantine["petitions"]["reason"]
    assert len(reasons) == 2
    assert reasons.str.contains("its row in the grids table was quarantined").all()
    assert "G1" not in set(dataset.petitions["grid_id"])


def test_several_problems_in_one_row_are_all_named(tmp_path, config):
    tables = _with_row("petitions", case_id="P1", level="9", received_at="yesterday")
    _, quarantine = _quarantined(tmp_path, config, tables, "petitions")
    reason = quarantine.iloc[0]["reason"]
    for part in ("case_id: duplicate id", "level: must be <= 6", "received_at: not a date-time"):
        assert part in reason


def test_malformed_csv_lines_are_quarantined_with_their_row_numbers(tmp_path, config):
    folder = write_tables(tmp_path, base_tables())
    (folder / "incidents.csv").write_text(
        "event_id,grid_id,occurred_at,type\n"
        "I1,G1,2023-01-01,a\n"
        "I2,G1,2023-01-02,a,extra,more\n"
        "\n"
        "I3,G2\n"
        'I4,G2,2023-01-03,"quoted, with comma"\n'
    )
    dataset = load_dataset(folder, config)
    q = dataset.quarantine["incidents"]
    assert q["row_number"].tolist() == [2, 3]
    assert q["reason"].str.startswith("malformed line").all()
    assert dataset.incidents["event_id"].tolist() == ["I1", "I4"]
    assert dataset.incidents["type"].tolist() == ["a", "quoted, with comma"]
    report = dataset.report.tables["incidents"]
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (4, 2, 2)


def test_adjacency_rows(tmp_path, config):
    tables = base_tables()
    tables["adjacency"] = pd.DataFrame(
        {
            "grid_a": ["G1", "G2", "G1", "G1", "G3", "G1"],
            "grid_b": ["G2", "G1", "G1", "G9", "G4", "G3"],
            "weight": ["1", "1", "1", "1", "0", "2"],
        }
    )
    dataset = load_dataset(write_tables(tmp_path, tables), config)
    q = dataset.quarantine["adjacency"].set_index("row_number")["reason"]
    assert "pair already listed" in q[2]
    assert "same grid as grid_a" in q[3]
    assert "grid_b: not in the grids table" in q[4]
    assert "weight: must be > 0" in q[5]
    assert dataset.adjacency[["grid_a", "grid_b"]].values.tolist() == [["G1", "G2"], ["G1", "G3"]]


def test_mixed_time_zones_in_one_column(tmp_path, config):
    dataset = load_dataset(write_tables(tmp_path, base_tables()), config)
    received = dataset.petitions.set_index("case_id")["received_at"]
    assert str(received.dt.tz) == "Asia/Shanghai"
    # naive = local time; +08:00 = local; Z = UTC converted to local (+8 h)
    assert received["P1"] == pd.Timestamp("2023-01-02 09:00", tz="Asia/Shanghai")
    assert received["P2"] == pd.Timestamp("2023-01-09 10:30", tz="Asia/Shanghai")
    assert received["P3"] == pd.Timestamp("2023-01-10 00:00", tz="Asia/Shanghai")
    assert received["P4"] == pd.Timestamp("2023-02-01 10:00", tz="Asia/Shanghai")


def test_configured_time_zone_and_nonexistent_local_time(tmp_path):
    from riskwarn.config import Config, DataConfig

    tables = base_tables()
    tables["incidents"].loc[0, "occurred_at"] = "2023-03-12T02:30:00"  # skipped by DST
    tables["incidents"].loc[1, "occurred_at"] = "2023-03-12T12:00:00Z"
    cfg = Config(data=DataConfig(timezone="America/New_York", end="2024-01-01"))
    dataset = load_dataset(write_tables(tmp_path, tables), cfg)
    assert "occurred_at: not a date-time" in dataset.quarantine["incidents"]["reason"][0]
    assert dataset.incidents["occurred_at"].iloc[0] == pd.Timestamp(
        "2023-03-12 08:00", tz="America/New_York"
    )


def test_parquet_aware_and_naive_timestamps(tmp_path, config):
    tables = base_tables()
    inc = tables["incidents"].copy()
    inc["occurred_at"] = pd.to_datetime(["2023-01-03 10:00", "2023-01-04 10:00"]).tz_localize("UTC")
    inc["severity"] = [2, 3]
    inc["participants"] = [10, 40]
    tables["incidents"] = inc
    dataset = load_dataset(write_tables(tmp_path, tables, fmt="parquet"), config)
    assert dataset.incidents["occurred_at"].iloc[0] == pd.Timestamp(
        "2023-01-03 18:00", tz="Asia/Shanghai"
    )
    assert dataset.incidents["severity"].tolist() == [2, 3]


def test_empty_table_is_read_with_a_warning(tmp_path, config):
    tables = base_tables()
    tables["disputes"] = "case_id,grid_id,reported_at,category\n"
    dataset = load_dataset(write_tables(tmp_path, tables), config)
    assert len(dataset.disputes) == 0
    assert dataset.report.tables["disputes"].rows_read == 0
    assert any("disputes" in w and "no rows" in w for w in dataset.report.warnings)


def test_absent_tables_are_fine(tmp_path, config):
    tables = base_tables()
    del tables["disputes"], tables["incidents"]
    dataset = load_dataset(write_tables(tmp_path, tables), config)
    assert dataset.disputes is None and dataset.incidents is None
    assert set(dataset.events) == {"petitions"}


def test_grid_with_no_events_is_kept_and_counted(tmp_path, config):
    dataset = load_dataset(write_tables(tmp_path, base_tables()), config)
    assert "G4" in set(dataset.grids["grid_id"])
    assert dataset.report.grids_without_events == 1


def test_contract_default_group_size_is_one_and_nothing_else_is_filled(tmp_path, config):
    dataset = load_dataset(write_tables(tmp_path, base_tables()), config)
    p = dataset.petitions.set_index("case_id")
    assert p.loc["P3", "group_size"] == 1
    assert pd.isna(p.loc["P4", "level"]) and pd.isna(p.loc["P3", "is_repeat"])
    assert pd.isna(dataset.disputes.set_index("case_id").loc["D2", "amount"])


def test_drop_pii_drops_before_reading_and_never_writes_it(tmp_path, config):
    tables = base_tables()
    tables["petitions"] = tables["petitions"].assign(
        姓名="张三", phone="13800000000", note="free text"
    )
    tables["petitions"].loc[1, "group_size"] = "-4"  # a row for the quarantine
    folder = write_tables(tmp_path / "data", tables)
    dataset = load_dataset(folder, config, drop_pii=True)
    report = dataset.report.tables["petitions"]
    assert sorted(report.dropped_pii_columns) == sorted(["姓名", "phone"])
    assert report.ignored_columns == ["note"]
    assert "姓名" not in dataset.petitions.columns and "phone" not in dataset.petitions.columns
    written = write_quarantine(dataset, tmp_path / "q")
    text = written["petitions"].read_text(encoding="utf-8")
    header = text.splitlines()[0].split(",")
    contract = set(TABLES["petitions"].column_names) | {"source_file", "row_number", "reason"}
    assert set(header) <= contract
    assert "张三" not in text and "13800000000" not in text
    assert set(dataset.quarantine["petitions"].columns) <= contract


def test_cli_validate_writes_quarantine_and_report(tmp_path, capsys):
    tables = _with_row("incidents", event_id="I9", severity="9")
    folder = write_tables(tmp_path / "data", tables)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\nend = "2024-01-01"\n')
    code = main(
        [
            "validate",
            "--data",
            str(folder),
            "--quarantine",
            str(tmp_path / "q"),
            "--config",
            str(cfg),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "rows read = rows accepted + rows quarantined: yes" in out
    q = pd.read_csv(tmp_path / "q" / "incidents.csv")
    assert q["event_id"].tolist() == ["I9"] and q["row_number"].tolist() == [3]
    assert pd.read_csv(tmp_path / "q" / "petitions.csv").empty
    report = json.loads((tmp_path / "q" / "validation_report.json").read_text())
    inc = report["tables"]["incidents"]
    assert (inc["rows_read"], inc["rows_accepted"], inc["rows_quarantined"]) == (3, 2, 1)
    assert inc["top_reasons"][0][0] == "severity: must be <= 4"


def test_codes_that_lost_their_leading_zeros_stop_the_run_with_the_cause(tmp_path, config):
    # Excel turns the code 000001 into the number 1: every event row then names a grid
    # the grids table lacks. The run must say so, not that there are no events.
    from riskwarn.errors import DataContractError
    from riskwarn.workflows.common import features_for

    tables = base_tables()
    codes = {g: f"{i:06d}" for i, g in enumerate(["G1", "G2", "G3", "G4"], start=1)}
    tables["grids"]["grid_id"] = tables["grids"]["grid_id"].map(codes)
    for name in ("petitions", "disputes", "incidents"):
        tables[name]["grid_id"] = tables[name]["grid_id"].map(codes).str.lstrip("0")
    folder = write_tables(tmp_path, tables)
    dataset = load_dataset(folder, config)
    warning = next(w for w in dataset.report.warnings if "table 'incidents'" in w)
    assert "leading zeros" in warning and "'1'" in warning and "'000001'" in warning
    with pytest.raises(DataContractError) as info:
        features_for(folder, config)
    assert "every one of the" in str(info.value) and "leading zeros" in str(info.value)
    assert "--quarantine" in info.value.fix


def test_a_single_grid_is_said_to_have_nothing_to_compare_with(tmp_path, config):
    tables = base_tables()
    tables["grids"] = tables["grids"][tables["grids"]["grid_id"] == "G1"]
    for name in ("petitions", "disputes", "incidents"):
        tables[name] = tables[name][tables[name]["grid_id"] == "G1"]
    tables["disputes"] = base_tables()["disputes"].assign(grid_id="G1")
    dataset = load_dataset(write_tables(tmp_path, tables), config)
    assert any("a single grid" in w for w in dataset.report.warnings)
    two = load_dataset(write_tables(tmp_path / "two", base_tables()), config)
    assert not any("a single grid" in w for w in two.report.warnings)


def test_a_grid_code_with_spaces_around_it_is_quarantined_with_the_cause(tmp_path, config):
    tables = base_tables()
    tables["incidents"].loc[0, "grid_id"] = " G1 "
    dataset = load_dataset(write_tables(tmp_path, tables), config)
    assert len(dataset.quarantine["incidents"]) == 1  # not silently repaired
    hint = [w for w in dataset.report.warnings if w.startswith("table 'incidents'")]
    assert len(hint) == 1 and "1 row(s)" in hint[0] and "e.g. ' G1 ' and 'G1'" in hint[0]
    clean = load_dataset(write_tables(tmp_path / "clean", base_tables()), config)
    assert not any("leading zeros or spaces" in w for w in clean.report.warnings)
