"""The interventions table: validated like the event tables, bad rows quarantined, PII refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskwarn.cli import main
from riskwarn.data.validate import load_dataset
from riskwarn.errors import DataContractError
from tests.conftest import base_tables, write_tables


def _tables(*extra_rows: dict) -> dict[str, pd.DataFrame]:
    tables = base_tables()
    rows = [
        {
            "intervention_id": "V1",
            "grid_id": "G1",
            "started_at": "2023-01-03T09:00:00",
            "kind": "mediation",
            "ended_at": "2023-01-03T12:00:00",
            "team": "Town 1 mediation team",
            "note_code": "M-01",
        },
        {
            "intervention_id": "V2",
            "grid_id": "G2",
            "started_at": "2023-01-10",
            "kind": "法律援助",  # the city's own words are kept
            "ended_at": "",
            "team": "",
            "note_code": "",
        },
        *extra_rows,
    ]
    tables["interventions"] = pd.DataFrame(rows)
    return tables


BAD_ROWS = [
    ({"intervention_id": "V1"}, "intervention_id: duplicate id"),
    ({"grid_id": "G99"}, "grid_id: not in the grids table"),
    ({"started_at": ""}, "started_at: missing (required)"),
    ({"started_at": "next week"}, "started_at: not a date-time"),
    ({"started_at": "2030-01-01"}, "started_at: after the data"),
    ({"kind": ""}, "kind: missing (required)"),
    ({"ended_at": "2022-12-01"}, "ended_at: before started_at"),
]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("values,reason", BAD_ROWS, ids=[r for _, r in BAD_ROWS])
def test_a_bad_intervention_row_is_quarantined_with_its_reason(
    tmp_path, config, values, reason, fmt
):
    row = {
        "intervention_id": "V9",
        "grid_id": "G3",
        "started_at": "2023-01-20",
        "kind": "services",
        "ended_at": "",
        "team": "",
        "note_code": "",
        **values,
    }
    dataset = load_dataset(write_tables(tmp_path, _tables(row), fmt=fmt), config)
    report = dataset.report.tables["interventions"]
    assert report.balanced and report.rows_read == 3
    quarantine = dataset.quarantine["interventions"]
    assert len(quarantine) == 1 and reason in quarantine.iloc[0]["reason"]
    assert quarantine.iloc[0]["row_number"] == 3
    assert dataset.interventions["intervention_id"].tolist() == ["V1", "V2"]


def test_accepted_interventions_are_typed_in_the_citys_time(tmp_path, config):
    dataset = load_dataset(write_tables(tmp_path, _tables()), config)
    v = dataset.interventions
    assert str(v["started_at"].dt.tz) == "Asia/Shanghai"
    assert v["kind"].tolist() == ["mediation", "法律援助"]
    assert v["ended_at"].isna().tolist() == [False, True]
    # interventions are not events: the event tables are what they were
    assert set(dataset.events) == {"petitions", "disputes", "incidents"}


def test_without_interventions_nothing_changes(tmp_path, config):
    dataset = load_dataset(write_tables(tmp_path, base_tables()), config)
    assert dataset.interventions is None and "interventions" not in dataset.report.tables


@pytest.mark.parametrize("column", ["mediator_name", "联系电话", "Phone", "当事人"])
def test_a_personal_column_in_interventions_is_refused(tmp_path, config, column):
    tables = _tables()
    tables["interventions"][column] = "secret"
    with pytest.raises(DataContractError, match="identify people") as info:
        load_dataset(write_tables(tmp_path, tables), config)
    assert info.value.column == column and "--drop-pii" in info.value.fix
    # --drop-pii drops it and reads the rest
    dataset = load_dataset(write_tables(tmp_path, tables), config, drop_pii=True)
    assert column not in dataset.interventions.columns and len(dataset.interventions) == 2


def test_validate_reports_and_quarantines_interventions(tmp_path, capsys):
    bad = {"intervention_id": "V9", "grid_id": "G99", "started_at": "2023-01-20", "kind": "x"}
    folder = write_tables(tmp_path / "data", _tables(bad))
    out = tmp_path / "q"
    assert main(["validate", "--data", str(folder), "--quarantine", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "interventions" in printed
    written = list(out.glob("interventions*"))
    assert written, "the quarantined intervention row is written out"


# -- the simulator's policy -----------------------------------------------------------------
def test_a_city_that_acts_has_a_known_effect_and_an_interventions_table(tmp_path):
    from riskwarn.config import Config, DataConfig
    from riskwarn.simulate import InterventionPolicy, SimulationParams, simulate_city, write_city

    policy = InterventionPolicy(capacity=4, effect=0.3, periods=3)
    sim = simulate_city(
        n_grids=60, n_periods=40, seed=4, params=SimulationParams(interventions=policy)
    )
    truth, v = sim.truth, sim.interventions
    # capacity grids a period, none chosen again while being treated
    per_period = v.groupby("started_at").size()
    assert len(per_period) == 40 and (per_period == 4).all()
    # treated grid-periods have exactly 0.7 of the hazard they would have had
    treated = truth["treated"].to_numpy()
    p, p0 = truth["probability"].to_numpy(), truth["untreated_probability"].to_numpy()
    mu, mu0 = -np.log1p(-p), -np.log1p(-p0)
    assert np.allclose(mu[treated], 0.7 * mu0[treated]) and np.allclose(mu[~treated], mu0[~treated])
    # each grid-period treated for 3 periods after a choice: 4 x 3 = 12 at a time (after the start)
    by_period = truth.groupby("period_start")["treated"].sum().to_numpy()
    assert (by_period[2:] == 12).all()
    # the riskier grids are the ones chosen (the signal is the hazard plus noise)
    assert p0[treated].mean() > 1.5 * p0[~treated].mean()
    # written, validated like any table, and the true effect kept
    folder = tmp_path / "city"
    files = write_city(sim, folder)
    import json

    effect = json.loads(files["effect"].read_text())
    assert effect["hazard_multiplier"] == 0.7 and effect["periods"] == 3 and effect["capacity"] == 4
    end = sim.end.tz_convert("Asia/Shanghai").tz_localize(None).isoformat()
    dataset = load_dataset(folder, Config(data=DataConfig(end=end)))
    assert len(dataset.interventions) == len(v) and dataset.quarantine["interventions"].empty


def test_a_policy_with_no_effect_leaves_the_city_as_it_was():
    from riskwarn.simulate import InterventionPolicy, SimulationParams, simulate_city

    plain = simulate_city(n_grids=30, n_periods=20, seed=9)
    idle = simulate_city(
        n_grids=30,
        n_periods=20,
        seed=9,
        params=SimulationParams(interventions=InterventionPolicy(effect=0.0)),
    )
    for name in ("petitions", "disputes", "incidents"):
        pd.testing.assert_frame_equal(getattr(plain, name), getattr(idle, name))
    assert plain.interventions is None and len(idle.interventions) > 0


def test_bad_policies_exit_2(tmp_path, capsys):
    for policy in ("random", "top:capacity=0", "top:effect=1.5", "top:speed=2", "top:periods=x"):
        code = main(
            ["simulate", "--out", str(tmp_path / "x"), "--grids", "5", "--interventions", policy]
        )
        assert code == 2, policy
        assert "--interventions" in capsys.readouterr().err or policy.startswith("top:")


# -- features, treated rows, the scorer ---------------------------------------------------
def _city_with_interventions(tmp_path):
    from riskwarn.config import Config, DataConfig
    from riskwarn.simulate import simulate_city, write_city

    sim = simulate_city(n_grids=20, n_periods=40, seed=1)
    folder = tmp_path / "data"
    write_city(sim, folder)
    start = sim.start.tz_localize(None)
    rows = pd.DataFrame(
        {
            "intervention_id": ["V1", "V2", "V3", "V4"],
            "grid_id": ["G000000", "G000000", "G000000", "G000003"],
            # weeks 10 (Wednesday), 12 (Monday 09:00), 20, and week 30 for another grid
            "started_at": [start + pd.Timedelta(days=d) for d in (72, 84.375, 140, 210)],
            "kind": "mediation",
        }
    )
    rows.to_csv(folder / "interventions.csv", index=False)
    end = sim.end.tz_convert("Asia/Shanghai").tz_localize(None).isoformat()
    config = Config(data=DataConfig(end=end))
    return load_dataset(folder, config), config, start


def test_intervention_features_count_only_what_was_done_before_the_as_of_date(tmp_path):
    from riskwarn.features.build import build_features

    dataset, config, start = _city_with_interventions(tmp_path)
    f = build_features(dataset, config)
    cols = ["itv_n_w4", "itv_n_w13", "itv_n_periods_since_last"]
    assert set(cols) <= set(f.columns)
    g = f[f["grid_id"] == "G000000"].set_index(
        f.loc[f["grid_id"] == "G000000", "as_of"].dt.tz_localize(None)
    )
    weeks = [start + pd.Timedelta(weeks=w) for w in range(40)]
    at = lambda w: g.loc[weeks[w]]  # noqa: E731  the as-of date of week w's start
    # week 10's visit is seen from week 11 on; the one on week 12's first morning from week 13
    assert at(10)["itv_n_w4"] == 0 and at(11)["itv_n_w4"] == 1
    assert at(12)["itv_n_w4"] == 1 and at(13)["itv_n_w4"] == 2
    assert at(13)["itv_n_periods_since_last"] == 1 and at(16)["itv_n_periods_since_last"] == 4
    assert at(21)["itv_n_w13"] == 3 and at(25)["itv_n_w13"] == 2 and at(26)["itv_n_w13"] == 1
    assert np.isnan(at(5)["itv_n_periods_since_last"])  # none yet
    # a grid never visited has no interventions
    other = f[f["grid_id"] == "G000001"]
    assert (other["itv_n_w13"] == 0).all() and other["itv_n_periods_since_last"].isna().all()


def test_treated_rows_and_the_split_add_up(tmp_path):
    from riskwarn.backtest.treatment import treated_rows, treatment_metrics

    zone = "Asia/Shanghai"
    dates = pd.date_range("2024-01-01", periods=6, freq="W-MON", tz=zone)
    pred = pd.DataFrame(
        [
            {"model": m, "grid_id": g, "as_of": d, "horizon": h, "score": s, "label": y}
            for m in ("a", "b")
            for h in (1, 2)
            for g, base in (("x", 0.3), ("y", 0.1))
            for i, d in enumerate(dates)
            for s, y in [(base + 0.01 * i + (0.05 if m == "a" else 0), int((i + h) % 3 == 0))]
        ]
    )
    pred["count"], pred["expected_events"] = pred["label"], np.nan
    visits = pd.DataFrame(
        {"grid_id": ["x"], "started_at": [pd.Timestamp("2024-01-17 10:00", tz=zone)]}
    )
    treated = treated_rows(pred, visits, "W-MON")
    rows = pred.assign(treated=treated)
    # the visit is in week 3 (from 2024-01-15): h=1 windows of that week, h=2 of weeks 2 and 3
    got = (
        rows[rows["treated"]]
        .groupby(["horizon"])["as_of"]
        .agg(lambda s: sorted({f"{t:%m-%d}" for t in s}))
    )
    assert got[1] == ["01-15"] and got[2] == ["01-08", "01-15"]
    assert (rows.loc[rows["treated"], "grid_id"] == "x").all()
    split = treatment_metrics(pred, treated, k=(0.5,))
    for kind in ("treated", "untreated"):
        assert {(r["model"], r["horizon"]) for r in split[kind]} == {
            (m, h) for m in "ab" for h in (1, 2)
        }
    for model in "ab":
        for h in (1, 2):
            t = next(r for r in split["treated"] if r["model"] == model and r["horizon"] == h)
            u = next(r for r in split["untreated"] if r["model"] == model and r["horizon"] == h)
            block = pred[(pred["model"] == model) & (pred["horizon"] == h)]
            assert t["n_rows"] + u["n_rows"] == len(block)
            assert t["n_positive"] + u["n_positive"] == int(block["label"].sum())
    assert split["treated_share"] == pytest.approx(treated.mean())
    assert not treated_rows(pred, None, "W-MON").any()


def test_the_scorer_ranks_by_the_risk_if_nothing_is_done():
    from riskwarn.models.scorer import TREATED_COLUMN, untreated

    X = pd.DataFrame(
        {
            "grid_id": ["a", "b"],
            "itv_n_w4": [2, 0],
            "itv_n_periods_since_last": [1.0, np.nan],
            "x": [1, 2],
        }
    )
    out = untreated(X)
    assert out["itv_n_w4"].tolist() == [0, 0] and out["itv_n_periods_since_last"].isna().all()
    assert out["x"].tolist() == [1, 2] and X["itv_n_w4"].tolist() == [2, 0]  # X unchanged
    plain = X.drop(columns=["itv_n_w4", "itv_n_periods_since_last"])
    assert untreated(plain) is plain
    assert TREATED_COLUMN == "periods_since_intervention"


def test_inspect_maps_an_interventions_export_in_chinese(tmp_path, config):
    import dataclasses

    from riskwarn.config import DataConfig, load_config

    tables = _tables()
    tables["interventions"] = tables["interventions"].rename(
        columns={
            "intervention_id": "措施编号",
            "grid_id": "所属网格",
            "started_at": "开始时间",
            "kind": "措施类型",
            "ended_at": "结束时间",
            "team": "工作组",
            "note_code": "备注代码",
        }
    )
    tables["interventions"]["措施类型"] = ["调解", "法律援助"]
    folder = write_tables(tmp_path / "export", tables)
    out = tmp_path / "proposed.toml"
    assert main(["inspect", "--data", str(folder), "--out", str(out)]) == 0
    proposed = load_config(out)
    assert proposed.data.columns["interventions"]["started_at"] == "开始时间"
    assert proposed.data.values["interventions"]["kind"] == {
        "调解": "mediation",
        "法律援助": "legal_aid",
    }
    data = DataConfig(**{**dataclasses.asdict(proposed.data), "end": "2024-01-01"})
    dataset = load_dataset(folder, dataclasses.replace(proposed, data=data))
    assert dataset.interventions["kind"].tolist() == ["mediation", "legal_aid"]
    assert dataset.quarantine["interventions"].empty
