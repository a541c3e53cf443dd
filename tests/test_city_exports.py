"""A city's own exports: Chinese headers and words mapped by config, GBK text, BOMs."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from riskwarn.cli import main
from riskwarn.config import Config, DataConfig, config_from_dict
from riskwarn.data.read import text_encoding
from riskwarn.data.validate import load_dataset
from riskwarn.errors import ConfigError, DataContractError
from tests.conftest import base_tables, write_tables

# The city's names for the contract's columns, and its words for contract values.
COLUMNS = {
    "grids": {"grid_id": "网格编码", "name": "网格名称", "population": "常住人口",
              "area_km2": "面积", "grid_type": "网格类型"},
    "petitions": {"case_id": "信访件编号", "grid_id": "所属网格", "received_at": "登记时间",
                  "category": "信访类别", "group_size": "人数", "is_repeat": "是否重复",
                  "level": "层级", "closed_at": "办结时间"},
    "disputes": {"case_id": "纠纷编号", "grid_id": "所属网格", "reported_at": "受理时间",
                 "category": "纠纷类别", "status": "调处状态", "resolved_at": "化解时间",
                 "parties": "当事方数", "amount": "涉及金额"},
    "incidents": {"event_id": "事件编号", "grid_id": "所属网格", "occurred_at": "发生时间",
                  "type": "事件类型", "severity": "等级", "participants": "参与人数"},
}  # fmt: skip
VALUES = {
    "grids": {"grid_type": {"城镇": "urban", "农村": "rural"}},
    "petitions": {"is_repeat": {"是": True, "否": False}},
    "disputes": {"status": {"已化解": "resolved", "未化解": "unresolved"}},
}
WORDS = {("grids", "grid_type"): {"urban": "城镇", "rural": "农村"},
         ("petitions", "is_repeat"): {"true": "是", "false": "否", "no": "否"},
         ("disputes", "status"): {"resolved": "已化解", "unresolved": "未化解"}}  # fmt: skip


def city_export(folder, encoding: str = "gb18030", tables=None):
    """The contract test city as a district would export it: Chinese headers and words."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (tables or base_tables()).items():
        frame = frame.copy()
        for (table, column), words in WORDS.items():
            if table == name:
                frame[column] = frame[column].replace(words)
        frame = frame.rename(columns=COLUMNS[name])
        frame.to_csv(folder / f"{name}.csv", index=False, encoding=encoding)
    return folder


def mapped(**data) -> Config:
    return Config(data=DataConfig(end="2024-01-01", columns=COLUMNS, values=VALUES, **data))


@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "utf-8-sig", "utf-8"])
def test_a_mapped_export_validates_exactly_as_the_contract_copy(tmp_path, config, encoding):
    plain = load_dataset(write_tables(tmp_path / "plain", base_tables()), config)
    export = load_dataset(city_export(tmp_path / "export", encoding), mapped())
    for name in ("grids", "petitions", "disputes", "incidents"):
        pd.testing.assert_frame_equal(getattr(export, name), getattr(plain, name))
        report = export.report.tables[name]
        assert report.mapped_columns == COLUMNS[name]
        assert report.encoding == ("gb18030" if encoding.startswith("gb") else "utf-8")
    assert export.report.tables["petitions"].reasons == plain.report.tables["petitions"].reasons
    if encoding == "gb18030":
        _same_features(export, plain, config)


def test_the_encoding_rule(tmp_path):
    text = "grid_id,name\nG1,城北\n"
    for encoding, found in (("utf-8", "utf-8-sig"), ("utf-8-sig", "utf-8-sig"),
                            ("gbk", "gb18030"), ("gb18030", "gb18030")):  # fmt: skip
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(text.encode(encoding))
        assert text_encoding(path) == found
    ascii_only = tmp_path / "ascii.csv"
    ascii_only.write_bytes(b"grid_id\nG1\n")
    assert text_encoding(ascii_only) == "utf-8-sig"
    # 0xFF is no character in UTF-8 or GB18030: the message names both
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"grid_id\nG1\xff\xff\n")
    with pytest.raises(DataContractError, match="neither UTF-8 nor GB18030"):
        text_encoding(broken)
    # a configured encoding that does not fit is named, with the fix
    gbk = tmp_path / "gbk.csv"
    with pytest.raises(DataContractError, match="not utf-8 text") as err:
        text_encoding(gbk, "utf-8")
    assert "[data] encoding" in err.value.fix
    assert text_encoding(gbk, "gbk") == "gbk"


def test_an_undecodable_file_exits_2_naming_the_encodings(tmp_path, capsys):
    folder = city_export(tmp_path / "export")
    (folder / "grids.csv").write_bytes((folder / "grids.csv").read_bytes() + b"G9,\xff\xff,1,1,x\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\nend = "2024-01-01"\n', encoding="utf-8")
    assert main(["validate", "--data", str(folder), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "neither UTF-8 nor GB18030" in err and "grids.csv" in err


def test_a_personal_column_is_refused_in_the_citys_words(tmp_path):
    tables = base_tables()
    tables["petitions"]["信访人姓名"] = "x"
    folder = city_export(tmp_path / "export", tables=tables)
    with pytest.raises(DataContractError, match="信访人姓名") as err:
        load_dataset(folder, mapped())
    assert "identify people" in err.value.problem
    # mapping it onto a contract column does not let it in
    columns = {**COLUMNS, "petitions": {**COLUMNS["petitions"], "category": "信访人姓名"}}
    with pytest.raises(DataContractError, match="信访人姓名"):
        load_dataset(folder, dataclasses.replace(mapped(), data=DataConfig(
            end="2024-01-01", columns=columns, values=VALUES)))  # fmt: skip
    # --drop-pii drops it, in the city's words too
    dataset = load_dataset(folder, mapped(), drop_pii=True)
    assert dataset.report.tables["petitions"].dropped_pii_columns == ["信访人姓名"]


def test_quarantine_names_the_citys_column_and_the_contract_column(tmp_path):
    tables = base_tables()
    tables["petitions"].loc[1, "received_at"] = "not a date"
    dataset = load_dataset(city_export(tmp_path / "export", tables=tables), mapped())
    reasons = dataset.quarantine["petitions"]["reason"].tolist()
    assert reasons == [
        "received_at (登记时间): not a date-time (ISO 8601, 2023/5/6 14:30, 2023年5月6日, "
        "20230506 or a month alone, 2023年5月, a local time that exists)"
    ]
    # "; " separates a row's reasons: one reason must not hold it (a report split one)
    from riskwarn.data.parse import KIND_TEXT

    assert not any("; " in text for text in KIND_TEXT.values())


def test_a_wrong_mapping_is_a_clear_error(tmp_path):
    folder = city_export(tmp_path / "export")
    wrong = {**COLUMNS, "petitions": {**COLUMNS["petitions"], "received_at": "登记日期"}}
    with pytest.raises(DataContractError, match="登记日期") as err:
        load_dataset(folder, Config(data=DataConfig(end="2024-01-01", columns=wrong)))
    assert "[data.columns.petitions]" in err.value.problem
    unknown = {**COLUMNS, "petitions": {**COLUMNS["petitions"], "received": "登记时间"}}
    with pytest.raises(DataContractError, match="no such contract column"):
        load_dataset(folder, Config(data=DataConfig(end="2024-01-01", columns=unknown)))
    # without a mapping the required columns are missing, and the fix says how to map
    with pytest.raises(DataContractError) as err:
        load_dataset(folder, Config(data=DataConfig(end="2024-01-01")))
    assert "[data.columns.grids]" in err.value.fix


def test_the_config_checks_the_mapping_shapes():
    with pytest.raises(ConfigError, match="encoding"):
        config_from_dict({"data": {"encoding": "klingon"}})
    with pytest.raises(ConfigError, match="data.columns"):
        config_from_dict({"data": {"columns": {"petitions": {"received_at": 3}}}})
    with pytest.raises(ConfigError, match="more than one contract column"):
        config_from_dict({"data": {"columns": {"petitions": {"case_id": "号", "grid_id": "号"}}}})
    with pytest.raises(ConfigError, match="data.values"):
        config_from_dict({"data": {"values": {"disputes": {"status": "已化解"}}}})
    ok = config_from_dict(
        {"data": {"encoding": "gbk", "columns": COLUMNS, "values": VALUES}}, source="t"
    )
    assert ok.data.columns == COLUMNS and ok.data.values["petitions"]["is_repeat"]["是"] is True


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2023/5/6 14:30", "2023-05-06 14:30"),
        ("2023-05-06T14:30:00+08:00", "2023-05-06 14:30"),
        ("2023-05-06T06:30:00Z", "2023-05-06 14:30"),
        ("2023年5月6日", "2023-05-06 00:00"),
        ("2023年5月6日 14时30分", "2023-05-06 14:30"),
        ("2023年05月06日 14:30:15", "2023-05-06 14:30:15"),
        ("20230506", "2023-05-06 00:00"),
        ("202305061430", "2023-05-06 14:30"),
        ("2023.5.6", "2023-05-06 00:00"),
        ("2023-5-6", "2023-05-06 00:00"),
        # a month alone, as monthly exports date their rows: its first day
        ("2021年2月", "2021-02-01 00:00"),
        ("2021 年 12 月", "2021-12-01 00:00"),
        ("2021/2", "2021-02-01 00:00"),
        ("2021-02", "2021-02-01 00:00"),
    ],
)
def test_date_formats_of_chinese_exports(text, expected):
    from riskwarn.data.parse import parse_timestamp

    typed, bad = parse_timestamp(pd.Series([text], dtype=object), "Asia/Shanghai")
    assert not bad.iloc[0] and typed.iloc[0] == pd.Timestamp(expected, tz="Asia/Shanghai")


def test_a_month_that_does_not_exist_is_not_a_date():
    from riskwarn.data.parse import parse_timestamp

    _, bad = parse_timestamp(pd.Series(["2021年13月", "2021年0月"], dtype=object), "Asia/Shanghai")
    assert bad.all()


def test_day_and_month_first_is_quarantined_as_ambiguous_never_swapped(tmp_path, config):
    tables = base_tables()
    tables["petitions"].loc[0, "received_at"] = "6/5/2023"
    tables["petitions"].loc[1, "received_at"] = "2023-02-30"  # no such day
    tables["petitions"].loc[2, "received_at"] = "2023/5/6 14:30"
    dataset = load_dataset(write_tables(tmp_path / "c", tables), config)
    reasons = dataset.quarantine["petitions"].set_index("case_id")["reason"]
    assert reasons["P1"] == (
        "received_at: ambiguous date, day and month could be either way round "
        "(write it year first, e.g. 2023-05-06)"
    )
    assert reasons["P2"].startswith("received_at: not a date-time")
    assert "missing" not in " ".join(reasons)  # the parse failure is the reason, once
    accepted = dataset.petitions.set_index("case_id")["received_at"]
    assert accepted["P3"] == pd.Timestamp("2023-05-06 14:30", tz="Asia/Shanghai")


# -- Excel ---------------------------------------------------------------------------------
def _workbook(path, frame: pd.DataFrame, *, sheet="Sheet1", cells=None, before=()):
    """Write ``frame`` as Excel does: a header row, then one row per record.

    ``cells`` maps (row position, column) to a Python value written instead of the
    text (a date cell, a number); ``before`` are sheets ahead of the table's.
    """
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = before[0] if before else sheet
    for extra in before[1:]:
        book.create_sheet(extra)
    ws = book[sheet] if sheet in book.sheetnames else book.create_sheet(sheet)
    ws.append(list(frame.columns))
    for i, row in enumerate(frame.itertuples(index=False)):
        values = [None if pd.isna(v) or v == "" else v for v in row]
        for (r, column), value in (cells or {}).items():
            if r == i:
                values[list(frame.columns).index(column)] = value
        ws.append(values)
    book.save(path)


def test_an_xlsx_export_validates_exactly_as_the_contract_copy(tmp_path, config):
    import datetime as dt

    plain = load_dataset(write_tables(tmp_path / "plain", base_tables()), config)
    folder = city_export(tmp_path / "export", "utf-8")
    for name, frame in base_tables().items():
        (folder / f"{name}.csv").unlink()
        frame = frame.copy()
        for (table, column), words in WORDS.items():
            if table == name:
                frame[column] = frame[column].replace(words)
        cells = {}
        if name == "petitions":
            # a date cell, an Excel serial date with a time, numbers as numbers
            cells = {(0, "received_at"): dt.datetime(2023, 1, 2, 9, 0),
                     (2, "received_at"): 44936.0,  # 2023-01-10 00:00
                     (1, "group_size"): 6, (0, "level"): 1.0}  # fmt: skip
        _workbook(folder / f"{name}.xlsx", frame.rename(columns=COLUMNS[name]),
                  cells={(r, COLUMNS[name][c]): v for (r, c), v in cells.items()})  # fmt: skip
    export = load_dataset(folder, mapped())
    for name in ("grids", "petitions", "disputes", "incidents"):
        pd.testing.assert_frame_equal(getattr(export, name), getattr(plain, name))
    _same_features(export, plain, config)


def _same_features(export, plain, config) -> None:
    from riskwarn.features.build import build_features

    pd.testing.assert_frame_equal(
        build_features(export, mapped(), labels=True),
        build_features(plain, config, labels=True),
        check_exact=True,
    )


def test_xlsx_rows_are_numbered_as_excel_shows_them_and_sheets_are_chosen(tmp_path, config):
    tables = base_tables()
    folder = write_tables(tmp_path / "c", {k: v for k, v in tables.items() if k != "incidents"})
    incidents = tables["incidents"].copy()
    incidents.loc[1, "occurred_at"] = "6/5/2023"  # data row 2: Excel row 3
    _workbook(folder / "incidents.xlsx", incidents, sheet="事件台账", before=("说明",))
    with pytest.raises(DataContractError, match="no worksheet '事件'") as err:
        load_dataset(
            folder, Config(data=DataConfig(end="2024-01-01", sheets={"incidents": "事件"}))
        )
    assert "事件台账" in err.value.problem
    cfg = Config(data=DataConfig(end="2024-01-01", sheets={"incidents": "事件台账"}))
    dataset = load_dataset(folder, cfg)
    q = dataset.quarantine["incidents"]
    assert q["row_number"].tolist() == [3] and q["reason"].iloc[0].startswith("occurred_at: ambig")
    # without [data.sheets] the first sheet is read: the notes sheet has no table
    with pytest.raises(DataContractError, match="empty"):
        load_dataset(folder, config)
    broken = folder / "incidents.xlsx"
    broken.write_bytes(b"not a workbook")
    with pytest.raises(DataContractError, match="workbook cannot be read"):
        load_dataset(folder, cfg)


# -- riskwarn inspect ------------------------------------------------------------------------
def test_inspect_proposes_a_config_that_validates_the_export_unchanged(tmp_path, capsys, config):
    from riskwarn.config import load_config

    folder = city_export(tmp_path / "export")
    out = tmp_path / "proposed.toml"
    assert main(["inspect", "--data", str(folder), "--out", str(out)]) == 0
    console = capsys.readouterr().out
    assert "Tables and their proposed mapping" in console and "gb18030" in console
    proposed = load_config(out)
    for name, mapping in COLUMNS.items():
        assert proposed.data.columns[name] == mapping
    assert proposed.data.values["disputes"]["status"] == VALUES["disputes"]["status"]
    assert proposed.data.values["grids"]["grid_type"] == VALUES["grids"]["grid_type"]
    rules = {(r.table, r.column, r.op, r.value) for r in proposed.label.any_of}
    assert rules == {("incidents", "severity", ">=", 3), ("petitions", "group_size", ">=", 5)}
    # the proposal, with no edits, validates the export to the contract copy's frames
    end = DataConfig(**{**dataclasses.asdict(proposed.data), "end": "2024-01-01"})
    export = load_dataset(folder, dataclasses.replace(proposed, data=end))
    plain = load_dataset(write_tables(tmp_path / "plain", base_tables()), config)
    for name in ("grids", "petitions", "disputes", "incidents"):
        pd.testing.assert_frame_equal(getattr(export, name), getattr(plain, name))
    # an existing file is never overwritten (the user may have edited it)
    assert main(["inspect", "--data", str(folder), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err


def test_inspect_proposes_months_for_sparse_events_over_years_and_says_why():
    from riskwarn.data.inspect import _guess_freq

    rng = pd.Series(pd.date_range("2019-01-03 10:00", "2023-12-20", periods=3000))
    # 3,000 events over 5 years: 0.19 per grid and week among 60 grids, 0.006 among 2,000
    freq, why = _guess_freq(rng, n_grids=60)
    assert freq == "MS" and "0.19 events per grid and week" in why
    assert _guess_freq(rng, n_grids=3) == ("W-MON", None)  # 3.8 a week: weeks are full
    one_year = rng[rng < "2020-01-01"]
    assert _guess_freq(one_year, n_grids=60) == ("W-MON", None)  # 12 months: too few
    firsts = pd.Series(pd.date_range("2023-01-01", periods=12, freq="MS"))
    assert _guess_freq(firsts, n_grids=1000) == ("MS", None)


def test_inspect_profiles_gaps_silent_grids_duplicates_and_filled_columns(tmp_path):
    from riskwarn.data.inspect import inspect_folder

    tables = base_tables()
    petitions = tables["petitions"]
    # monthly dates with March missing city-wide, and a duplicated case id
    petitions["received_at"] = ["2023-01-01", "2023-02-01", "2023-04-01", "2023-05-01"]
    petitions.loc[3, "case_id"] = "P1"
    tables["disputes"]["reported_at"] = ["2023-01-01", "2023-05-01"]
    tables["incidents"]["occurred_at"] = ["2023-02-01", "2023-04-01"]
    found = inspect_folder(city_export(tmp_path / "export", tables=tables))
    assert found.freq == "MS"
    p = found.tables["petitions"]
    assert p.empty == ["2023-03-01"] and p.per_period.tolist() == [1, 1, 0, 1, 1]
    assert p.gaps == []  # one row a month: an empty month may be real quiet
    assert p.duplicates == 1 and p.rows == 4
    assert p.filled["group_size"] == pytest.approx(0.75) and p.filled["closed_at"] == 0.5
    assert found.tables["disputes"].empty == ["2023-02-01", "2023-03-01", "2023-04-01"]
    assert found.grids_without_events == 1  # G4
    # a header it cannot place is listed, and a missing required column is named
    tables["incidents"] = tables["incidents"].rename(columns={"occurred_at": "时刻"})
    found = inspect_folder(city_export(tmp_path / "odd", tables=tables))
    assert found.tables["incidents"].missing_required == ["occurred_at"]
    assert "时刻" in found.tables["incidents"].unmapped
    assert "REQUIRED but not found, map them: occurred_at" in found.config_toml()


# -- office layouts that hide the header ---------------------------------------------------
def _refusal(folder, config) -> DataContractError:
    with pytest.raises(DataContractError) as info:
        load_dataset(folder, config)
    return info.value


def test_a_title_line_above_the_header_is_named_in_the_fix(tmp_path):
    folder = city_export(tmp_path / "export", "utf-8")
    text = (folder / "petitions.csv").read_text(encoding="utf-8")
    (folder / "petitions.csv").write_text("XX区信访台账（2023年）\n" + text, encoding="utf-8")
    err = _refusal(folder, mapped())
    assert "Line 2 holds those names" in err.fix and "XX区信访台账" in err.fix
    assert "Delete the lines above the header row" in err.fix


def test_a_title_row_above_a_worksheets_header_is_named_in_the_fix(tmp_path):
    import openpyxl

    folder = city_export(tmp_path / "export", "utf-8")
    frame = pd.read_csv(folder / "incidents.csv", dtype=str)
    (folder / "incidents.csv").unlink()
    book = openpyxl.Workbook()
    book.active.append(["XX市事件台账（2023年）"])  # one cell wide, as a merged title is
    book.active.append([])
    book.active.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        book.active.append([None if pd.isna(v) else v for v in row])
    book.save(folder / "incidents.xlsx")
    err = _refusal(folder, mapped())
    assert "Line 3 holds those names" in err.fix and "XX市事件台账" in err.fix


def test_a_tab_separated_export_and_excels_unicode_text_are_named_in_the_fix(tmp_path):
    folder = city_export(tmp_path / "export", "utf-8")
    frame = pd.read_csv(folder / "incidents.csv", dtype=str)
    frame.to_csv(folder / "incidents.csv", sep="\t", index=False, encoding="utf-8")
    assert "tab-separated" in _refusal(folder, mapped()).fix
    # Excel's "Unicode text": UTF-16 with a byte-order mark, tab-separated
    frame.to_csv(folder / "incidents.csv", sep="\t", index=False, encoding="utf-16")
    assert text_encoding(folder / "incidents.csv") == "utf-16"
    err = _refusal(folder, mapped())
    assert "tab-separated" in err.fix and "neither UTF-8" not in str(err)


def test_a_workbook_whose_table_is_not_on_the_first_sheet_names_its_sheets(tmp_path):
    folder = city_export(tmp_path / "export", "utf-8")
    frame = pd.read_csv(folder / "disputes.csv", dtype=str)
    (folder / "disputes.csv").unlink()
    _workbook(folder / "disputes.xlsx", frame, sheet="纠纷台账", before=("填表说明",))
    err = _refusal(folder, mapped())  # an empty sheet first
    assert "also has 纠纷台账" in err.fix and 'disputes = "纠纷台账"' in err.fix
    import openpyxl

    book = openpyxl.load_workbook(folder / "disputes.xlsx")
    book["填表说明"].append(["本表由各网格每月填报，日期格式为年-月-日。"])
    book.save(folder / "disputes.xlsx")
    err = _refusal(folder, mapped())  # a sheet of notes first
    assert "2 sheets (填表说明, 纠纷台账)" in err.fix and 'disputes = "纠纷台账"' in err.fix
    # and with the sheet named, it reads
    assert load_dataset(folder, mapped(sheets={"disputes": "纠纷台账"})).disputes is not None
