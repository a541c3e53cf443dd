"""Structural problems stop the run with a message naming file, column and fix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from riskwarn.cli import main
from riskwarn.data.validate import load_dataset
from riskwarn.errors import DataContractError
from tests.conftest import base_tables, write_tables


def _expect(folder: Path, config, *, file: str | None, column: str | None, words: str, **kw):
    with pytest.raises(DataContractError) as info:
        load_dataset(folder, config, **kw)
    err = info.value
    if file is not None:
        assert err.file is not None and Path(err.file).name == file
    assert err.column == column
    assert words in str(err)
    assert err.fix and "Fix:" in str(err)
    return err


def test_missing_folder(tmp_path, config):
    _expect(tmp_path / "nope", config, file=None, column=None, words="does not exist")


def test_no_grids_table(tmp_path, config):
    tables = base_tables()
    del tables["grids"]
    _expect(write_tables(tmp_path, tables), config, file="grids.csv", column=None, words="no grids")


def test_no_event_table(tmp_path, config):
    tables = {"grids": base_tables()["grids"]}
    _expect(
        write_tables(tmp_path, tables), config, file=None, column=None, words="none of the event"
    )


def test_empty_file(tmp_path, config):
    folder = write_tables(tmp_path, base_tables())
    (folder / "incidents.csv").write_text("")
    _expect(folder, config, file="incidents.csv", column=None, words="empty")


def test_unreadable_parquet(tmp_path, config):
    folder = write_tables(tmp_path, base_tables())
    (folder / "incidents.csv").unlink()
    (folder / "incidents.parquet").write_bytes(b"PAR1 this is not parquet")
    _expect(folder, config, file="incidents.parquet", column=None, words="cannot be read")


def test_not_utf8(tmp_path, config):
    folder = write_tables(tmp_path, base_tables())
    (folder / "disputes.csv").write_bytes(
        b"case_id,grid_id,reported_at,category\n" + b"\xff\xfe,G1,2023-01-01,x\n"
    )
    _expect(folder, config, file="disputes.csv", column=None, words="UTF-8")


def test_missing_required_column_suggests_the_close_name(tmp_path, config):
    tables = base_tables()
    tables["petitions"] = tables["petitions"].rename(columns={"received_at": "recieved_at"})
    err = _expect(
        write_tables(tmp_path, tables),
        config,
        file="petitions.csv",
        column="received_at",
        words="missing",
    )
    assert "recieved_at" in str(err)


def test_duplicate_grid_id(tmp_path, config):
    tables = base_tables()
    tables["grids"] = pd.concat([tables["grids"], tables["grids"].iloc[[1]]])
    _expect(write_tables(tmp_path, tables), config, file="grids.csv", column="grid_id", words="G2")


def test_grids_without_rows(tmp_path, config):
    tables = base_tables()
    tables["grids"] = tables["grids"].iloc[:0]
    _expect(write_tables(tmp_path, tables), config, file="grids.csv", column=None, words="no rows")


def test_same_table_twice(tmp_path, config):
    folder = write_tables(tmp_path, base_tables())
    base_tables()["incidents"].to_parquet(folder / "incidents.parquet")
    _expect(folder, config, file="incidents.parquet", column=None, words="twice")


def test_repeated_column_name(tmp_path, config):
    folder = write_tables(tmp_path, base_tables())
    (folder / "incidents.csv").write_text(
        "event_id,grid_id,occurred_at,type,type\nI1,G1,2023-01-01,a,b\n"
    )
    _expect(folder, config, file="incidents.csv", column="type", words="more than once")


@pytest.mark.parametrize(
    "table,column",
    [
        ("petitions", "name"),
        ("petitions", "Phone"),
        ("disputes", "id_number"),
        ("incidents", "home_address"),
        ("petitions", "姓名"),
        ("disputes", "电话"),
        ("incidents", "身份证号"),
        ("petitions", "住址"),
        ("grids", "contact_phone"),
        # names a new user's exports had that an earlier list let through
        ("incidents", "公民身份号码"),
        ("petitions", "反映人"),
        ("petitions", "上访人"),
        ("grids", "户主"),
        ("grids", "网格员"),
        ("disputes", "QQ号"),
        ("disputes", "银行卡号"),
        ("incidents", "reporter"),
    ],
)
def test_personal_column_is_refused(tmp_path, config, table, column):
    tables = base_tables()
    tables[table] = tables[table].assign(**{column: "secret"})
    err = _expect(
        write_tables(tmp_path, tables),
        config,
        file=f"{table}.csv",
        column=column,
        words="identify people",
    )
    assert "--drop-pii" in err.fix


@pytest.mark.parametrize("how", ["flag", "config"])
def test_every_command_that_reads_data_can_drop_personal_columns(tmp_path, capsys, how):
    # The refusal's fix names --drop-pii: the command that printed it must take it.
    tables = base_tables()
    tables["incidents"] = tables["incidents"].assign(**{"报警人电话": "13800138000"})
    folder = write_tables(tmp_path / "city", tables)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\nend = "2023-03-06"\n')
    args = ["features", "--data", str(folder), "--config", str(cfg), "--out"]
    assert main([*args, str(tmp_path / "a.parquet")]) == 2
    assert "--drop-pii" in capsys.readouterr().err
    if how == "config":
        cfg.write_text('[data]\nend = "2023-03-06"\ndrop_pii = true\n')
        extra = []
    else:
        extra = ["--drop-pii"]
    assert main([*args, str(tmp_path / "b.parquet"), *extra]) == 0
    built = pd.read_parquet(tmp_path / "b.parquet")
    assert not any("报警" in c for c in built.columns)
    for command in ("backtest", "train", "score"):
        assert main([command, "--help"]) == 0
        assert "--drop-pii" in capsys.readouterr().out


def test_drop_pii_in_the_config_is_true_or_false():
    from riskwarn.config import config_from_dict
    from riskwarn.errors import ConfigError

    assert config_from_dict({"data": {"drop_pii": True}}).data.drop_pii is True
    with pytest.raises(ConfigError, match="drop_pii is true or false"):
        config_from_dict({"data": {"drop_pii": "yes"}})


@pytest.mark.parametrize("column", ["网格员数", "reporter_type", "category_code"])
def test_a_count_or_a_kind_named_after_people_is_not_refused(column):
    from riskwarn.data.contract import identifies_person

    assert not identifies_person("grids", column)
    assert not identifies_person("incidents", column)


@pytest.mark.parametrize(
    "table,column,value",
    [
        ("incidents", "type", "张三 13800138000 邻里纠纷"),
        ("incidents", "type", "邻里纠纷 身份证110101199003071234"),
        ("petitions", "category", "housing, contact zhang@example.com"),
        ("disputes", "category", "噪音 0755-12345678"),
        ("grids", "town", "镇 11010119900307123X"),
    ],
)
def test_a_phone_or_id_number_inside_a_category_is_refused(tmp_path, config, table, column, value):
    # A category's values reach the watchlist's reasons and the report.
    tables = base_tables()
    frame = tables[table].copy()
    frame[column] = frame[column].astype(object) if column in frame else "x"
    frame.loc[frame.index[-1], column] = value
    tables[table] = frame
    err = _expect(
        write_tables(tmp_path, tables),
        config,
        file=f"{table}.csv",
        column=column,
        words="phone number, an ID number or an e-mail",
    )
    assert value not in str(err)  # the message does not repeat the personal data
    assert f"data row(s) {len(frame)}" in str(err)


def test_case_numbers_and_codes_are_not_personal_values():
    from riskwarn.data.contract import personal_values

    values = pd.Series(["2023110100012345", "类别0102003", "邻里纠纷", None, "A-17"])
    assert not personal_values(values).any()


def test_grid_name_is_not_personal(tmp_path, config):
    dataset = load_dataset(write_tables(tmp_path, base_tables()), config)
    assert "name" in dataset.grids.columns


def test_cli_exit_code_2_with_one_paragraph_and_no_traceback(tmp_path, capsys):
    tables = base_tables()
    tables["petitions"] = tables["petitions"].assign(姓名="张三")
    folder = write_tables(tmp_path, tables)
    code = main(["validate", "--data", str(folder)])
    out = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in out.err + out.out
    assert "petitions.csv" in out.err and "姓名" in out.err and "--drop-pii" in out.err
    assert "张三" not in out.err + out.out  # the value never reaches the output


def test_cli_bad_config_exits_2(tmp_path, capsys):
    folder = write_tables(tmp_path / "d", base_tables())
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[data]\ntimezone = "Mars/Olympus"\n')
    assert main(["validate", "--data", str(folder), "--config", str(cfg)]) == 2
    assert "timezone" in capsys.readouterr().err
