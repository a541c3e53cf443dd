"""The effect estimate at the plan's capacity cut-off (a regression discontinuity on rank)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from riskwarn.backtest.effect import NoEffectEstimate, cutoff_rows, estimate_effect
from riskwarn.cli import main
from riskwarn.reports.text import effect_lines

FREQ = "W-MON"


def _city_lists(
    n_grids=300,
    n_periods=120,
    capacity=15,
    effect=-0.4,
    *,
    comply=1.0,
    stray=0.0,
    base=0.25,
    seed=0,
    second=None,
):
    """A city acting on its lists: top ``capacity`` candidates by score enter the plan
    for one period (a grid in the last plan is not a candidate). Escalations are
    Poisson with a mean rising smoothly with the score, times ``1 + effect`` where
    an intervention started. ``comply``: share of entrants the teams reach; ``stray``:
    chance that a grid outside the plan is treated anyway; ``second``: (share, effect)
    of the treated grids given "legal_aid" instead, with its own effect."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"G{i:04d}" for i in range(n_grids)])
    level = rng.normal(0, 0.5, n_grids)  # a grid's lasting risk
    dates = pd.date_range("2022-01-03", periods=n_periods, freq=FREQ, tz="Asia/Shanghai")
    lists, outcomes, itv = [], [], []
    held = np.zeros(n_grids, dtype=bool)
    for as_of in dates:
        score = level + rng.normal(0, 0.5, n_grids)
        cand = np.flatnonzero(~held)
        enter = cand[np.argsort(-score[cand], kind="stable")[:capacity]]
        plan = np.zeros(n_grids, dtype=bool)
        plan[enter] = True
        treated = plan & (rng.random(n_grids) < comply)
        treated |= ~plan & ~held & (rng.random(n_grids) < stray)
        legal = treated & (rng.random(n_grids) < second[0]) if second else treated & False
        change = np.where(legal, 1 + (second[1] if second else 0.0), 1 + effect)
        mu = base * np.exp(0.8 * score) * np.where(treated, change, 1.0)
        y = rng.poisson(mu)
        lists.append(
            pd.DataFrame({"grid_id": ids, "as_of": as_of, "score": score, "in_plan": plan})
        )
        outcomes.append(pd.DataFrame({"grid_id": ids, "as_of": as_of, "escalations": y}))
        for g in np.flatnonzero(treated):
            kind = "legal_aid" if legal[g] else "mediation"
            itv.append((f"V{len(itv)}", ids[g], as_of + pd.Timedelta(hours=9), kind))
        held = plan
    interventions = pd.DataFrame(itv, columns=["intervention_id", "grid_id", "started_at", "kind"])
    return pd.concat(lists), pd.concat(outcomes), interventions


@pytest.fixture(scope="module")
def sharp():
    lists, outcomes, itv = _city_lists()
    return cutoff_rows(lists, outcomes, itv, freq=FREQ)


def test_a_sharp_cutoff_recovers_the_known_effect(sharp):
    est = estimate_effect(sharp, seed=1)
    assert est.design == "sharp" and est.first_stage == pytest.approx(1.0)
    assert est.low < -0.4 < est.high
    assert abs(est.effect - -0.4) < 0.15
    assert est.high < 0  # a 40 % fall is visible at this size
    assert est.bandwidth == 15  # the capacity by default
    assert est.kinds == {"mediation": est.n_inside}


def test_no_effect_gives_an_interval_around_zero():
    # (over 30 such cities the 90 % interval held 0 in 27, with a mean of -0.04)
    lists, outcomes, itv = _city_lists(effect=0.0, seed=4)
    est = estimate_effect(cutoff_rows(lists, outcomes, itv, freq=FREQ), seed=1)
    assert est.low < 0 < est.high and abs(est.effect) < 0.2
    assert "no change" in " ".join(effect_lines(est.as_dict(), "en"))


def test_a_fuzzy_cutoff_divides_by_the_jump_in_treatment():
    lists, outcomes, itv = _city_lists(comply=0.7, stray=0.05, seed=5, n_periods=200)
    rows = cutoff_rows(lists, outcomes, itv, freq=FREQ)
    est = estimate_effect(rows, seed=1)
    assert est.design == "fuzzy"
    assert 0.55 < est.first_stage < 0.75  # 0.7 reached inside, 0.05 treated outside
    assert est.low < -0.4 < est.high and abs(est.effect - -0.4) < 0.2
    # Reading the plan as the treatment ignores the teams' misses: an effect diluted.
    itt = estimate_effect(cutoff_rows(lists, outcomes, None, freq=FREQ), seed=1)
    assert itt.design == "sharp" and abs(itt.effect) < abs(est.effect)


def test_each_kind_is_estimated_apart_where_there_are_two():
    # half the treated grids get legal aid, which does nothing; mediation halves the risk
    lists, outcomes, itv = _city_lists(effect=-0.5, second=(0.5, 0.0), n_periods=200, seed=2)
    est = estimate_effect(cutoff_rows(lists, outcomes, itv, freq=FREQ), seed=1)
    assert set(est.by_kind) == {"legal_aid", "mediation"}
    mediation, legal = est.by_kind["mediation"], est.by_kind["legal_aid"]
    assert mediation["low"] < -0.5 < mediation["high"] and mediation["high"] < 0
    assert legal["low"] < 0 < legal["high"]
    assert mediation["effect"] < est.effect < legal["effect"]  # the mix lies between
    assert mediation["design"] == "sharp"  # the grids given legal aid are left out
    words = " ".join(effect_lines(est.as_dict(), "en"))
    assert "Each kind against no intervention" in words and "mediation -" in words
    # one kind only: nothing apart
    assert estimate_effect(cutoff_rows(*_city_lists(n_periods=60), freq=FREQ)).by_kind == {}


def test_the_interval_is_reproducible_with_its_seed(sharp):
    a, b = estimate_effect(sharp, seed=7), estimate_effect(sharp, seed=7)
    c = estimate_effect(sharp, seed=8)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high) and a.effect == c.effect


def test_candidates_are_placed_around_each_lists_cutoff():
    tz = "Asia/Shanghai"
    d0, d1 = pd.Timestamp("2023-01-02", tz=tz), pd.Timestamp("2023-01-09", tz=tz)
    lists = pd.DataFrame(
        {
            "grid_id": ["A", "B", "C", "D", "E"] * 2,
            "as_of": [d0] * 5 + [d1] * 5,
            "score": [0.9, 0.1, 0.2, 0.3, 0.4, 0.95, 0.8, 0.2, 0.5, 0.6],
            "in_plan": [True, False, False, False, False, True, True, False, False, True],
        }
    )
    outcomes = pd.DataFrame({"grid_id": list("ABCDE"), "as_of": d1, "escalations": [9, 1, 0, 2, 3]})
    itv = pd.DataFrame({"grid_id": ["B", "D"], "started_at": [d1, d1 - pd.Timedelta(days=1)],
                        "kind": ["legal_aid", "mediation"]})  # fmt: skip
    rows = cutoff_rows(lists, outcomes, itv, freq=FREQ).set_index("grid_id")
    # A was held from the first list: not a candidate. B and E entered (k = 2):
    # by score B 0.8 (1.5), E 0.6 (0.5), then D 0.5 (-0.5), C 0.2 (-1.5).
    assert list(rows.index) == ["B", "E", "D", "C"]
    assert rows["distance"].tolist() == [1.5, 0.5, -0.5, -1.5]
    assert rows["entered"].tolist() == [True, True, False, False]
    # Treated: an intervention that started in the list's period (D's was the day before).
    assert rows["treated"].tolist() == [True, False, False, False]
    assert rows.loc["B", "kind"] == "legal_aid" and pd.isna(rows.loc["D", "kind"])
    assert rows["escalations"].tolist() == [1, 3, 2, 0]
    # The first list has no earlier one to tell who entered: none of its rows.
    assert set(rows["as_of"]) == {d1}


def test_each_capacity_group_has_its_own_cutoff_and_a_group_none_entered_has_none():
    tz = "Asia/Shanghai"
    d0, d1 = pd.Timestamp("2023-01-02", tz=tz), pd.Timestamp("2023-01-09", tz=tz)
    grids = ["N1", "N2", "N3", "S1", "S2", "S3"]
    lists = pd.DataFrame(
        {
            "grid_id": grids * 2,
            "as_of": [d0] * 6 + [d1] * 6,
            "score": [0.1] * 6 + [0.9, 0.8, 0.7, 0.3, 0.2, 0.1],
            "in_plan": [False] * 6 + [True, False, False, True, False, False],
        }
    )
    outcomes = pd.DataFrame({"grid_id": grids, "as_of": d1, "escalations": 0})
    towns = pd.Series(["north"] * 3 + ["south"] * 3, index=grids)
    rows = cutoff_rows(lists, outcomes, freq=FREQ, groups=towns).set_index("grid_id")
    # In the south S1 entered though it scored below N2: its own town's cut-off.
    assert rows.loc[["N1", "N2", "N3"], "distance"].tolist() == [0.5, -0.5, -1.5]
    assert rows.loc[["S1", "S2", "S3"], "distance"].tolist() == [0.5, -0.5, -1.5]
    lists.loc[(lists["as_of"] == d1) & lists["grid_id"].str.startswith("S"), "in_plan"] = False
    rows = cutoff_rows(lists, outcomes, freq=FREQ, groups=towns)
    assert set(rows["grid_id"]) == {"N1", "N2", "N3"}


def test_an_unobserved_outcome_drops_the_row_not_counts_it_as_zero(sharp):
    lists, outcomes, itv = _city_lists(n_periods=10)
    outcomes = outcomes.astype({"escalations": float})
    first_date = outcomes["as_of"].iloc[0 + 300]  # the second list's period
    outcomes.loc[outcomes["as_of"] == first_date, "escalations"] = np.nan
    rows = cutoff_rows(lists, outcomes, itv, freq=FREQ)
    assert first_date not in set(rows["as_of"]) and len(rows) > 0


@pytest.mark.parametrize(
    "change,message",
    [
        ("no lists", "no list had a cut-off"),
        ("tiny rates", "too few escalations near the cut-off"),
        ("short", "too few grid-periods near the cut-off"),
        ("ignored list", "the lists did not decide where the teams went"),
        ("one grid", "no list had a cut-off"),
    ],
)
def test_data_that_cannot_support_an_estimate_is_refused_in_plain_words(change, message):
    kwargs = {
        "no lists": {"n_periods": 1},
        "tiny rates": {"base": 0.002},
        "short": {"n_periods": 2},
        "ignored list": {"comply": 0.0, "stray": 0.02},
        "one grid": {"n_grids": 1, "capacity": 1},  # it enters whenever it can: no cut-off
    }[change]
    lists, outcomes, itv = _city_lists(**kwargs)
    rows = cutoff_rows(lists, outcomes, itv, freq=FREQ)
    with pytest.raises(NoEffectEstimate, match=message):
        estimate_effect(rows)


def test_lists_without_the_plan_are_refused():
    lists, outcomes, itv = _city_lists(n_periods=3)
    with pytest.raises(NoEffectEstimate, match="in_plan"):
        cutoff_rows(lists.drop(columns="in_plan"), outcomes, itv, freq=FREQ)
    # scored without a capacity: the column is there but empty
    unplanned = lists.assign(in_plan=pd.array([pd.NA] * len(lists), dtype="boolean"))
    with pytest.raises(NoEffectEstimate, match=r"no plan .* Set \[watchlist\] capacity"):
        cutoff_rows(unplanned, outcomes, itv, freq=FREQ)


def test_effect_words_in_both_languages(sharp):
    est = estimate_effect(sharp, seed=1).as_dict()
    en, zh = effect_lines(est, "en"), effect_lines(est, "zh")
    assert "fewer escalations" in en[0] and "90% interval" in en[0]
    assert "少" in zh[0] and "区间" in zh[0] and len(en) == len(zh)
    assert effect_lines({"reason": "too few"}, "zh") == ["无法估计：too few"]


@pytest.fixture(scope="module")
def acting_city(tmp_path_factory):
    """A simulated city that acts on its own lists (interventions and history/)."""
    from riskwarn.simulate import InterventionPolicy, SimulationParams, simulate_city, write_city

    folder = tmp_path_factory.mktemp("acting")
    policy = InterventionPolicy(capacity=20, effect=0.5, periods=4)
    sim = simulate_city(
        n_grids=400, n_periods=104, seed=2, params=SimulationParams(interventions=policy)
    )
    write_city(sim, folder)
    return folder


def test_the_simulator_keeps_the_lists_it_acted_on(acting_city):
    lists = sorted((acting_city / "history").glob("watchlist_*.parquet"))
    assert len(lists) == 104
    itv = pd.read_parquet(acting_city / "interventions.parquet")
    one = pd.read_parquet(lists[10])
    plan = set(one.loc[one["in_plan"], "grid_id"])
    as_of = one["as_of"].iloc[0]
    started = itv["started_at"] < as_of + pd.Timedelta(days=7)  # by the end of its week
    recent = itv[started & (itv["ended_at"] > as_of)]
    assert plan == set(recent["grid_id"])  # in the plan = being treated
    assert sorted(one["rank"]) == list(range(1, 401))
    assert one.sort_values("rank")["score"].is_monotonic_decreasing


def test_riskwarn_effect_prints_the_estimate_and_writes_it_for_the_report(
    acting_city, tmp_path, capsys
):
    watchlist = tmp_path / "out"
    (watchlist / "history").mkdir(parents=True)
    for path in (acting_city / "history").glob("*.parquet"):
        (watchlist / "history" / path.name).write_bytes(path.read_bytes())
    assert main(["effect", "--data", str(acting_city), "--watchlist", str(watchlist)]) == 0
    said = capsys.readouterr().out
    assert "interval" in said and "just missed it" in said
    saved = json.loads((watchlist / "effect.json").read_text())
    assert saved["low"] < saved["effect"] < saved["high"] and saved["design"] == "sharp"
    # the lists beside the data give the same estimate (the seed is the config's)
    assert main(["effect", "--data", str(acting_city)]) == 0
    assert f"{100 * saved['low']:+.0f}%" in capsys.readouterr().out


def test_riskwarn_effect_says_what_is_missing(acting_city, tmp_path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    for path in acting_city.glob("*.parquet"):
        if path.name != "interventions.parquet":
            (bare / path.name).write_bytes(path.read_bytes())
    assert main(["effect", "--data", str(bare)]) == 2
    assert "has no interventions" in capsys.readouterr().err
    (bare / "interventions.parquet").write_bytes(
        (acting_city / "interventions.parquet").read_bytes()
    )
    assert main(["effect", "--data", str(bare)]) == 2
    err = capsys.readouterr().err
    assert "no dated lists" in err and "--watchlist" in err


def test_the_backtest_reports_the_effect_or_why_there_is_none(sharp):
    from riskwarn.backtest.tables import effect_markdown

    est = estimate_effect(sharp, seed=1).as_dict()
    lines = "\n".join(effect_markdown({"effect": est}))
    assert f"**{100 * est['effect']:+.1f}%**" in lines and "90% interval" in lines
    assert f"| inside | {est['n_inside']:,} | {est['events_inside']:,} |" in lines
    reason = effect_markdown({"effect": {"reason": "no dated lists"}})
    assert reason[2] == "No estimate: no dated lists"
    assert effect_markdown({}) == []


def test_riskwarn_backtest_writes_the_effect_from_the_lists_beside_the_data(acting_city, tmp_path):
    config = tmp_path / "bt.toml"
    config.write_text(
        '[backtest]\nmodels = ["persistence", "hist_rate"]\nrefit_every = 26\n', encoding="utf-8"
    )
    out = tmp_path / "bt"
    args = ["backtest", "--data", str(acting_city), "--config", str(config), "--out", str(out)]
    assert main([*args, "--no-track"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert main(["effect", "--data", str(acting_city), "--config", str(config)]) == 0
    saved = estimate_effect(
        cutoff_rows(
            pd.concat(pd.read_parquet(p) for p in sorted((acting_city / "history").glob("*"))),
            _truth_outcomes(acting_city),
            pd.read_parquet(acting_city / "interventions.parquet"),
            freq=FREQ,
        )
    )
    # the label counts are the simulated escalations: the same estimate as from the truth
    assert metrics["effect"]["effect"] == pytest.approx(saved.effect)
    assert metrics["effect"]["n_inside"] == saved.n_inside
    assert "## Effect of the interventions" in (out / "metrics.md").read_text()
    # without the lists the backtest still runs and says why there is no estimate
    (acting_city / "history").rename(tmp_path / "away")
    try:
        assert main([*args, "--no-track"]) == 0
    finally:
        (tmp_path / "away").rename(acting_city / "history")
    reason = json.loads((out / "metrics.json").read_text())["effect"]["reason"]
    assert reason.startswith("no dated lists under")


def _truth_outcomes(folder):
    truth = pd.read_parquet(folder / "_truth" / "escalation_probability.parquet")
    return truth.rename(columns={"period_start": "as_of"})[["grid_id", "as_of", "escalations"]]


def test_a_refusal_replaces_an_older_estimate_beside_the_watchlist(acting_city, tmp_path):
    watchlist = tmp_path / "out"
    (watchlist / "history").mkdir(parents=True)
    (watchlist / "effect.json").write_text('{"effect": -0.5, "low": -0.6, "high": -0.4}')
    two = sorted((acting_city / "history").glob("*.parquet"))[:2]
    for path in two:
        (watchlist / "history" / path.name).write_bytes(path.read_bytes())
    # a list renamed aside is not read as another list
    (watchlist / "history" / f"{two[0].stem}_old.parquet").write_bytes(two[0].read_bytes())
    assert main(["effect", "--data", str(acting_city), "--watchlist", str(watchlist)]) == 2
    saved = json.loads((watchlist / "effect.json").read_text())
    assert list(saved) == ["reason"] and "these are 1)" in saved["reason"]


def test_settings_are_checked_before_the_data_is_read(tmp_path, capsys):
    missing = str(tmp_path / "nowhere")
    assert main(["effect", "--data", missing, "--level", "1.5"]) == 2
    assert "--level must be between 0 and 1" in capsys.readouterr().err
    assert main(["effect", "--data", missing, "--bandwidth", "0"]) == 2
    assert "--bandwidth must be at least 1" in capsys.readouterr().err
    assert main(["effect", "--data", missing, "--watchlist", missing]) == 2
    assert "the --watchlist folder" in capsys.readouterr().err


def test_lists_further_apart_than_the_period_are_noted_and_the_card_gives_the_groups(tmp_path):
    import dataclasses

    from riskwarn.config import Config
    from riskwarn.workflows.effect import _spacing_notes, _with_card_groups

    months = pd.date_range("2023-01-01", periods=6, freq="MS", tz="Asia/Shanghai")
    lists = pd.DataFrame({"as_of": months, "grid_id": "G1", "score": 0.1, "in_plan": False})
    (note,) = _spacing_notes(lists, Config())
    assert "days apart but the period is W-MON" in note and "--config" in note
    monthly = dataclasses.replace(Config(), data=dataclasses.replace(Config().data, freq="MS"))
    assert _spacing_notes(lists, monthly) == []
    card = {"plan": {"capacity": 4, "capacity_by": "town", "hold_periods": 2}}
    (tmp_path / "model_card.json").write_text(json.dumps(card))
    notes = []
    assert _with_card_groups(Config(), tmp_path, notes).watchlist.capacity_by == "town"
    assert notes == ["capacity per town, as the watchlist's model card records the plan."]
    assert _with_card_groups(Config(), None, []).watchlist.capacity_by is None
