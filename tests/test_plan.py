"""The plan: capacity (city-wide and per town), hold, exit rule, hysteresis, churn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskwarn.config import config_from_dict
from riskwarn.errors import ConfigError, RiskwarnError
from riskwarn.plan.capacity import NO_GROUP, PlanRule, choose_plan
from riskwarn.plan.churn import plan_metrics, plan_over_time, stability_sweep
from riskwarn.plan.watchlist import periods_between, plan_columns, with_plan
from tests.conftest import HIST_RATE_CONFIG, registered_city


def _grids(scores: dict[str, float], groups: dict[str, str] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"grid_id": list(scores), "score": list(scores.values())})
    if groups is not None:
        frame["group"] = [groups.get(g) for g in frame["grid_id"]]
    return frame


def _planned(plan: pd.DataFrame) -> set[str]:
    return set(plan.loc[plan["in_plan"], "grid_id"])


def test_a_city_wide_capacity_takes_the_top_by_risk():
    rng = np.random.default_rng(0)
    scores = dict(zip([f"g{i}" for i in range(30)], rng.random(30), strict=True))
    plan = choose_plan(_grids(scores), PlanRule(capacity=5))
    top = sorted(scores, key=scores.get, reverse=True)[:5]
    assert _planned(plan) == set(top) and plan["in_plan"].sum() == 5
    assert plan["grid_id"].tolist() == list(scores)  # rows in the order given
    assert (plan.loc[plan["in_plan"], "plan_periods"] == 1).all()
    assert (plan.loc[~plan["in_plan"], "plan_periods"] == 0).all()


def test_capacity_per_town_never_pulls_in_another_towns_grids():
    scores = {"a1": 0.9, "a2": 0.8, "a3": 0.7, "b1": 0.2, "c1": 0.95, "c2": 0.1}
    towns = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "c1": "C", "c2": "C"}
    plan = choose_plan(_grids(scores, towns), PlanRule(capacity=2, capacity_by="town"))
    # each town its own top 2; B has one grid, and its spare slot is not given to A
    assert _planned(plan) == {"a1", "a2", "b1", "c1", "c2"}
    # a table of capacities: a town not named has none
    plan = choose_plan(
        _grids(scores, towns), PlanRule(capacity={"A": 1, "C": 1}, capacity_by="town")
    )
    assert _planned(plan) == {"a1", "c1"}
    # grids without a town form a group of their own
    towns["b1"] = None
    plan = choose_plan(_grids(scores, towns), PlanRule(capacity=1, capacity_by="town"))
    assert _planned(plan) == {"a1", "b1", "c1"}
    assert NO_GROUP == "(none)"


def test_a_held_grid_stays_until_its_hold_ends_unless_its_risk_falls_far():
    rule = PlanRule(capacity=2, hold_periods=3, exit_ratio=0.5, enter_margin=1.0)
    previous = pd.DataFrame({"grid_id": ["old"]})
    scores = {"x": 0.9, "y": 0.8, "old": 0.5}  # old is now third
    # within its hold (in the plan 1 or 2 periods): it stays, the best challenger fills the rest
    for since in (1, 2):
        plan = choose_plan(_grids(scores), rule, previous, periods_since=np.array([since]))
        assert _planned(plan) == {"x", "old"}
        assert plan.set_index("grid_id").loc["old", "plan_periods"] == since + 1
    # its hold is over: it competes on score (no margin here) and leaves
    plan = choose_plan(_grids(scores), rule, previous, periods_since=np.array([3]))
    assert _planned(plan) == {"x", "y"}
    # the exit rule: within its hold, but its score fell below half the cut-off (0.8)
    fallen = {"x": 0.9, "y": 0.8, "old": 0.39}
    plan = choose_plan(_grids(fallen), rule, previous, periods_since=np.array([1]))
    assert _planned(plan) == {"x", "y"}
    # exit ratio 0 turns the rule off
    never = PlanRule(capacity=2, hold_periods=3, exit_ratio=0.0, enter_margin=1.0)
    plan = choose_plan(_grids(fallen), never, previous, periods_since=np.array([1]))
    assert _planned(plan) == {"x", "old"}


def test_a_challenger_must_clearly_exceed_the_weakest_grid_in_the_plan():
    rule = PlanRule(capacity=2, hold_periods=0, enter_margin=1.2)
    previous = pd.DataFrame({"grid_id": ["a", "b"]})
    # c is 10 % above b: not enough to replace it
    plan = choose_plan(_grids({"a": 0.9, "b": 0.5, "c": 0.55}), rule, previous)
    assert _planned(plan) == {"a", "b"}
    assert plan.set_index("grid_id").loc["b", "plan_periods"] == 2
    # c is 30 % above b: it enters
    plan = choose_plan(_grids({"a": 0.9, "b": 0.5, "c": 0.65}), rule, previous)
    assert _planned(plan) == {"a", "c"}
    # without hysteresis (margin 1) the 10 % is enough
    plain = PlanRule(capacity=2, enter_margin=1.0)
    assert _planned(choose_plan(_grids({"a": 0.9, "b": 0.5, "c": 0.55}), plain, previous)) == {
        "a",
        "c",
    }


def test_edge_cases_of_a_plan():
    one = choose_plan(_grids({"only": 0.1}), PlanRule(capacity=3))
    assert _planned(one) == {"only"}
    none = choose_plan(_grids({"a": 0.5, "b": 0.4}), PlanRule(capacity=0))
    assert not none["in_plan"].any()
    with pytest.raises(RiskwarnError, match="twice"):
        choose_plan(pd.DataFrame({"grid_id": ["a", "a"], "score": [0.1, 0.2]}), PlanRule(1))
    # ties broken by grid id, so the plan is the same on every run
    tied = choose_plan(_grids({"b": 0.5, "a": 0.5, "c": 0.5}), PlanRule(capacity=2))
    assert _planned(tied) == {"a", "b"}


def test_churn_and_recall_by_hand():
    rows = pd.DataFrame(
        {
            "as_of": np.repeat(pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-15"]), 4),
            "grid_id": ["a", "b", "c", "d"] * 3,
            "score": [0.9, 0.8, 0.1, 0.0, 0.1, 0.8, 0.9, 0.0, 0.1, 0.8, 0.9, 0.0],
            "label": [1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1],
        }
    )
    plans = plan_over_time(rows, PlanRule(capacity=2, enter_margin=1.0))
    planned = plans[plans["in_plan"]].groupby("as_of")["grid_id"].agg(set).tolist()
    assert planned == [{"a", "b"}, {"b", "c"}, {"b", "c"}]
    got = plan_metrics(plans, rows[["as_of", "grid_id", "label"]])
    # escalations: 2 + 2 + 2 = 6; in the plan: a (1) + b, c (2) + c (1) = 4
    assert got["recall"] == pytest.approx(4 / 6)
    assert got["reached"] == pytest.approx(4 / 3)
    # {a,b}->{b,c}: 1/3, {b,c}->{b,c}: 1
    assert got["jaccard"] == pytest.approx((1 / 3 + 1) / 2)
    assert got["replaced"] == pytest.approx((0.5 + 0) / 2)
    # ranks: day 1 a1 b2 c3 d4; day 2 c1 b2 a3 d4; day 3 the same
    # day 2's plan {b, c}: |2-2| + |1-3| = 2 -> 1; day 3: 0
    assert got["displacement"] == pytest.approx((1 + 0) / 2)
    # a hold of 2 keeps a on day 2 (its score fell, but not below half the cut-off 0.8? it
    # did: 0.1 < 0.4, so the exit rule lets it go)
    held = plan_over_time(rows, PlanRule(capacity=2, hold_periods=2, enter_margin=1.0))
    assert held[held["in_plan"]].groupby("as_of")["grid_id"].agg(set).tolist() == planned
    keep = PlanRule(capacity=2, hold_periods=2, exit_ratio=0.0, enter_margin=1.0)
    held = plan_over_time(rows, keep)
    sets = held[held["in_plan"]].groupby("as_of")["grid_id"].agg(set).tolist()
    assert sets == [{"a", "b"}, {"a", "b"}, {"b", "c"}]


def test_a_longer_hold_churns_less():
    rng = np.random.default_rng(3)
    n, dates = 60, pd.date_range("2024-01-01", periods=20, freq="W-MON")
    level = rng.gamma(1.0, 1.0, n)
    rows = pd.DataFrame(
        {
            "as_of": np.repeat(dates, n),
            "grid_id": np.tile([f"g{i:02d}" for i in range(n)], len(dates)),
            "score": (level[None, :] * rng.gamma(4.0, 0.25, (len(dates), n))).ravel(),
            "label": rng.integers(0, 2, n * len(dates)),
        }
    )
    sweep = stability_sweep(rows, PlanRule(capacity=6, hold_periods=4))
    by = {(r["hold_periods"], r["exit_ratio"]): r for r in sweep}
    assert sum(r["configured"] for r in sweep) == 1 and by[(4, 0.5)]["configured"]
    assert by[(8, 0.0)]["replaced"] < by[(0, 0.0)]["replaced"]
    assert by[(8, 0.0)]["jaccard"] > by[(0, 0.0)]["jaccard"]
    assert all(r["planned_per_date"] == 6 for r in sweep)


def test_plan_columns_carry_the_previous_plan_and_count_periods():
    every = pd.DataFrame(
        {
            "grid_id": ["a", "b", "c"],
            "as_of": pd.Timestamp("2024-01-15", tz="Asia/Shanghai"),
            "score": [0.9, 0.5, 0.55],
        }
    )
    settings = config_from_dict({"watchlist": {"capacity": 2, "hold_periods": 4}}).watchlist
    previous = pd.DataFrame(
        {
            "grid_id": ["a", "b", "c"],
            "as_of": pd.Timestamp("2024-01-01", tz="Asia/Shanghai"),
            "in_plan": pd.array([True, True, False], dtype="boolean"),
            "plan_periods": pd.array([1, 3, 0], dtype="Int16"),
        }
    )
    # two weeks later: b is in its 3 + 2 = 5th period, past its hold of 4, and c (0.55)
    # is not 1.2x above it (0.5), so b stays by hysteresis; a is in its third
    plan = plan_columns(every, None, settings, previous, "W-MON").set_index("grid_id")
    assert plan["in_plan"].tolist() == [True, True, False]
    assert plan["plan_periods"].tolist() == [3, 5, 0]
    assert periods_between(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-15"), "W-MON") == 2
    # without a capacity there is no plan: missing, not False
    none = plan_columns(every, None, config_from_dict({}).watchlist, previous, "W-MON")
    assert none["in_plan"].isna().all()
    w = every.assign(tier=pd.array([1, pd.NA, pd.NA], dtype="Int8"), reasons=[[]] * 3)
    placed = with_plan(w, plan.reset_index())
    assert list(placed.columns[:6]) == [
        "grid_id",
        "as_of",
        "score",
        "tier",
        "in_plan",
        "plan_periods",
    ]


@pytest.mark.parametrize(
    "watchlist",
    [
        {"capacity": -1},
        {"capacity": 2.5},
        {"capacity": {"A": 2}},  # a table needs capacity_by
        {"capacity": 2, "capacity_by": "street"},
        {"hold_periods": -1},
        {"exit_ratio": 1.5},
        {"enter_margin": 0.9},
    ],
)
def test_bad_plan_settings_are_refused(watchlist):
    with pytest.raises(ConfigError, match=r"\[watchlist\]"):
        config_from_dict({"watchlist": watchlist})


# -- through riskwarn score ----------------------------------------------------------------
PLAN_CITY = HIST_RATE_CONFIG.replace("NAME", "rw-plan")


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """A small city and a model of it (the historical rate: quick to train)."""

    folder = tmp_path_factory.mktemp("plan_city")
    args, _, sim = registered_city(folder, PLAN_CITY, n_grids=40, n_periods=70, seed=5)
    last = sim.end.tz_convert("Asia/Shanghai").tz_localize(None).normalize()
    days = [f"{d:%Y-%m-%d}" for d in pd.date_range(end=last, periods=5, freq="W-MON")[:-2]]
    return folder, args, days, sim.grids


def test_score_marks_exactly_the_grids_each_town_can_take(registered, tmp_path):
    from riskwarn.cli import main

    folder, args, days, grids = registered
    plan_toml = tmp_path / "plan.toml"
    plan_toml.write_text(
        '[watchlist]\ncapacity = 4\ncapacity_by = "town"\nhold_periods = 2\n', encoding="utf-8"
    )
    out = tmp_path / "watch"
    towns = grids.set_index("grid_id")["town"]
    seen = []
    for day in days:
        call = ["score", *args, "--model", "models:/rw-plan/1", "--as-of", day, "--out", str(out)]
        assert main([*call, "--config", str(plan_toml)]) == 0
        w = pd.read_parquet(out / "watchlist.parquet")
        w["town"] = towns.reindex(w["grid_id"]).to_numpy()
        per_town = w.groupby("town")["in_plan"].sum()
        sizes = w.groupby("town").size()
        assert (per_town == np.minimum(4, sizes)).all(), per_town
        assert w["in_plan"].notna().all() and (w.loc[~w["in_plan"], "plan_periods"] == 0).all()
        # the other files carry it too, and the dated copy keeps it for the next week
        assert "in_plan" in pd.read_csv(out / "watchlist.csv").columns
        dated = pd.read_parquet(out / "history" / f"watchlist_{day}.parquet")
        assert dated["in_plan"].sum() == w["in_plan"].sum()
        seen.append(w.set_index("grid_id"))
    # a grid planned last week is in its second period now (hold 2), whatever its rank
    first, second = seen[0], seen[1]
    kept = first.index[first["in_plan"]]
    assert second.loc[kept, "in_plan"].all()
    assert (second.loc[kept, "plan_periods"] == 2).all()
    # the card says what the plan was chosen under, and the report shows it per town
    from riskwarn.reports.folder import read_watchlist_folder
    from riskwarn.reports.html import render_report

    folder_read = read_watchlist_folder(out)
    assert folder_read.card["plan"] == {"capacity": 4, "capacity_by": "town", "hold_periods": 2}
    html = render_report(folder_read, lang="en")
    n_plan = int(seen[-1]["in_plan"].sum())
    assert f"{n_plan} grids are in the plan (capacity: 4 grids per town)." in html
    for town in towns.unique():
        assert f"<tr><td>{town}</td><td>{min(4, int((towns == town).sum()))}</td><td>4</td>" in html
    assert f"Plan changes compared: {len(days) - 1};" in html
    assert "of these" in html and "No effect estimate yet" in html
    # without a capacity the plan is missing, not "not in the plan"
    out2 = tmp_path / "none"
    call = ["score", *args, "--model", "models:/rw-plan/1", "--as-of", days[0], "--out", str(out2)]
    assert main(call) == 0
    assert pd.read_parquet(out2 / "watchlist.parquet")["in_plan"].isna().all()


def test_a_capacity_by_a_column_the_grids_lack_exits_2(registered, tmp_path, capsys):
    import shutil

    from riskwarn.cli import main

    folder, args, days, grids = registered
    data = tmp_path / "data"
    shutil.copytree(folder / "data", data)
    table = next(data.glob("grids.*"))
    frame = pd.read_parquet(table) if table.suffix == ".parquet" else pd.read_csv(table)
    frame = frame.drop(columns=["district"])
    frame.to_parquet(table) if table.suffix == ".parquet" else frame.to_csv(table, index=False)
    plan_toml = tmp_path / "plan.toml"
    plan_toml.write_text('[watchlist]\ncapacity = 2\ncapacity_by = "district"\n')
    out = tmp_path / "watch"
    call = ["score", "--data", str(data), *args[2:], "--model", "models:/rw-plan/1"]
    code = main([*call, "--as-of", days[-1], "--out", str(out), "--config", str(plan_toml)])
    assert code == 2
    assert "no 'district' column" in capsys.readouterr().err
    assert not (out / "watchlist.parquet").exists()


def test_the_backtest_plan_says_which_capacity_it_used():
    from riskwarn.plan.backtest import backtest_plan

    rng = np.random.default_rng(1)
    dates = pd.date_range("2024-01-01", periods=6, freq="W-MON", tz="Asia/Shanghai")
    ids = [f"g{i:02d}" for i in range(40)]
    pred = pd.DataFrame(
        {
            "model": "lightgbm",
            "grid_id": np.tile(ids, len(dates)),
            "as_of": np.repeat(dates, len(ids)),
            "horizon": 1,
            "score": rng.random(len(ids) * len(dates)),
            "label": rng.integers(0, 2, len(ids) * len(dates)),
        }
    )
    grids = pd.DataFrame({"grid_id": ids, "town": ["A", "B"] * 20})
    by_town = {
        "label": {"horizon": 1},
        "train": {"model": "lightgbm"},
        "backtest": {"models": ["lightgbm"]},
    }
    cfg = config_from_dict({**by_town, "watchlist": {"capacity": 3, "capacity_by": "town"}})
    plan = backtest_plan(pred, grids, cfg)
    assert plan["capacity"] == 3 and plan["capacity_by"] == "town"
    assert all(r["planned_per_date"] == 6 for r in plan["sweep"])  # 3 in each of 2 towns
    # grids without the column: 5 % of the grids city-wide, and said so
    plan = backtest_plan(pred, grids[["grid_id"]], cfg)
    assert plan["capacity"] == 2 and plan["capacity_by"] is None
    assert plan["note"].startswith("the grids have no 'town' column: 2 grids (5 % of 40)")
    plan = backtest_plan(pred, grids, config_from_dict(by_town))
    assert plan["note"].startswith("no [watchlist] capacity set: 2 grids")
