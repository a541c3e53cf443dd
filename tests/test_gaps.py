"""Missing periods are not zeros: an extraction gap makes the labels over it missing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskwarn.config import Config, DataConfig, LabelConfig, LabelRule, config_from_dict
from riskwarn.data.validate import load_dataset
from riskwarn.errors import ConfigError
from riskwarn.features.build import build_features
from riskwarn.labels.build import unobserved_rows
from riskwarn.panel.periods import period_index_for, unobserved_periods
from riskwarn.simulate import simulate_city, write_city


def test_an_empty_period_is_a_gap_only_where_a_table_is_busy():
    times = pd.Series(pd.date_range("2023-01-02", periods=70, freq="D"))  # 10 weeks, 7 a week
    busy = times[(times < "2023-01-23") | (times >= "2023-01-30")]  # week 4 empty
    rare = times[::9]  # about one a week: empty weeks happen by chance
    zoned = busy.dt.tz_localize("Asia/Shanghai")
    periods = period_index_for([zoned], Config(data=DataConfig(end="2023-03-13")))
    gaps = unobserved_periods(periods, {"petitions": busy, "incidents": rare})
    assert periods.boundaries[gaps["petitions"]].strftime("%Y-%m-%d").tolist() == ["2023-01-23"]
    assert gaps["incidents"].tolist() == []
    listed = unobserved_periods(periods, {"incidents": rare}, ("2023-02-08",))
    assert periods.boundaries[listed["incidents"]].strftime("%Y-%m-%d").tolist() == ["2023-02-06"]


def test_unobserved_rows_are_those_whose_window_holds_a_gap():
    gaps = np.zeros(10, dtype=bool)
    gaps[5] = True
    # row q's window is q+1 .. q+h
    assert unobserved_rows(gaps, 1) == [4]
    assert unobserved_rows(gaps, 3) == [2, 3, 4]
    assert unobserved_rows(np.zeros(10, dtype=bool), 3) == []


@pytest.fixture(scope="module")
def gapped(tmp_path_factory):
    """A simulated city whose petitions export lacks one whole week."""
    folder = tmp_path_factory.mktemp("gap_city")
    sim = simulate_city(n_grids=40, n_periods=40, seed=3)
    write_city(sim, folder)
    petitions = pd.read_parquet(folder / "petitions.parquet")
    received = pd.to_datetime(petitions["received_at"]).dt.tz_convert("Asia/Shanghai")
    week = received.dt.tz_localize(None).dt.to_period("W-SUN").dt.start_time
    gap = sorted(week.unique())[20]
    petitions[week != gap].to_parquet(folder / "petitions.parquet", index=False)
    end = sim.end.tz_convert("Asia/Shanghai").tz_localize(None).isoformat()
    label = LabelConfig(horizon=2, any_of=(LabelRule("petitions", "group_size", ">=", 5),))
    config = Config(data=DataConfig(end=end), label=label)
    return load_dataset(folder, config), config, pd.Timestamp(gap)


def test_an_extraction_gap_gives_missing_labels_in_every_build(gapped):
    dataset, config, gap = gapped
    frame = build_features(dataset, config, labels=True)
    as_of = pd.to_datetime(frame["as_of"]).dt.tz_localize(None)
    # the label of as-of t covers periods starting t .. t + (h-1) weeks
    week = pd.Timedelta(weeks=1)
    for h in (1, 2):
        covers = (as_of <= gap) & (as_of + (h - 1) * week >= gap)
        assert covers.any() and frame.loc[covers, f"label_h{h}"].isna().all()
        near = (as_of == gap + week) | (as_of == gap - h * week)
        assert frame.loc[near, f"label_h{h}"].notna().all()
    # a single as-of build agrees
    one = build_features(dataset, config, as_of=gap, labels=True)
    assert one["label_h1"].isna().all() and one["label_h2"].isna().all()
    after = build_features(dataset, config, as_of=gap + week, labels=True)
    assert after["label_h1"].notna().all()
    # and the report says so
    assert any("petitions has no rows at all in 1 period" in w for w in _validate(dataset, config))


def test_a_listed_missing_period_gives_missing_labels(gapped):
    dataset, config, gap = gapped
    listed = gap + pd.Timedelta(weeks=5, days=2)
    cfg = Config(
        data=DataConfig(end=config.data.end, missing_periods=(f"{listed:%Y-%m-%d}",)),
        label=config.label,
    )
    frame = build_features(dataset, cfg, labels=True)
    as_of = pd.to_datetime(frame["as_of"]).dt.tz_localize(None)
    monday = listed - pd.Timedelta(days=2)
    assert frame.loc[as_of == monday, "label_h1"].isna().all()
    with pytest.raises(ConfigError, match="missing_periods"):
        config_from_dict({"data": {"missing_periods": ["soon"]}})


def _validate(dataset, config) -> list[str]:
    from riskwarn.panel.unobserved import gap_report_lines, unobserved

    return gap_report_lines(dataset, unobserved(dataset, config))


def test_inspect_reads_the_same_gaps_as_the_panel(gapped, tmp_path):
    from riskwarn.data.inspect import inspect_folder

    dataset, _, gap = gapped
    found = inspect_folder(dataset.folder)
    assert found.tables["petitions"].gaps == [f"{gap:%Y-%m-%d}"]
    assert found.tables["disputes"].gaps == []
    assert f"petitions: no rows at all in {gap:%Y-%m-%d}" in found.config_toml()


def test_windows_that_span_a_gap_are_flagged(gapped):
    dataset, config, gap = gapped
    frame = build_features(dataset, config)
    window = max(config.features.windows)
    col = f"pet_unobserved_w{window}"
    as_of = pd.to_datetime(frame["as_of"]).dt.tz_localize(None)
    # the row as of t reads the periods before t: the gap week is in its window
    # from the as-of date just after it, for `window` weeks
    inside = (as_of > gap) & (as_of <= gap + pd.Timedelta(weeks=window))
    assert (frame.loc[inside, col] == 1).all() and (frame.loc[~inside, col] == 0).all()
    assert "inc_unobserved_w52" not in frame  # incidents have no gap
    # the one-date build and a build on the same vocabulary agree
    t = gap + pd.Timedelta(weeks=3)
    one = build_features(dataset, config, as_of=t)
    assert (one[col] == 1).all()
    # a forecast made before the gap has no such column, and a model's vocabulary
    # carries the column to data scored later
    before = build_features(dataset, config, as_of=gap)
    assert col not in before


def test_a_gap_just_before_the_as_of_date_is_reported_when_scoring(gapped):
    # Features count a gap's events as none: a watchlist scored just after one must say
    # so (the console, the card and the report), and one scored long after must not.
    from riskwarn.panel.unobserved import gap_line, recent_gaps, unobserved

    dataset, config, gap = gapped
    gaps = unobserved(dataset, config)
    week = pd.Timedelta(weeks=1)
    span = max(config.features.half_lives)
    found = recent_gaps(gaps, config, gap + 2 * week)
    assert [g["table"] for g in found] == ["petitions"]
    assert found[0]["periods"] == [f"{gap:%Y-%m-%d}"] and found[0]["of"] == span
    assert "petitions has no rows at all in 1 of the" in gap_line(found[0])
    assert recent_gaps(gaps, config, gap) == []  # the gap is not before it yet
    assert recent_gaps(gaps, config, gap + (span + 1) * week) == []  # long past
    assert recent_gaps(gaps, config, gap + span * week) != []


def test_a_gap_in_some_towns_only_is_reported_and_chance_quiet_is_not():
    from riskwarn.panel.unobserved import _empty_runs

    observed = np.ones(12, dtype=bool)
    busy = np.array([6, 5, 7, 0, 0, 0, 6, 5, 0, 7, 6, 5])
    # three empty periods where 6 a period are usual: a gap; one empty period: chance
    assert np.flatnonzero(_empty_runs(busy, observed)).tolist() == [3, 4, 5]
    quiet = np.array([1, 0, 0, 1, 2, 0, 0, 0, 1, 1, 0, 1])  # a quiet town's empty spells
    assert not _empty_runs(quiet, observed).any()
    # a city-wide gap is the panel's (already reported): it does not count for a town
    citywide = observed.copy()
    citywide[[3, 4]] = False
    assert np.flatnonzero(_empty_runs(busy, citywide)).tolist() == []


def test_validation_names_the_towns_whose_export_stopped(tmp_path):
    from riskwarn.workflows.common import validate_data

    folder = tmp_path / "city"
    sim = simulate_city(n_grids=60, n_periods=60, seed=4)
    write_city(sim, folder)
    grids = pd.read_parquet(folder / "grids.parquet")
    incidents = pd.read_parquet(folder / "incidents.parquet")
    town = grids["town"].value_counts().index[0]  # the biggest town stops exporting
    stopped = incidents["grid_id"].isin(grids.loc[grids["town"] == town, "grid_id"])
    when = pd.to_datetime(incidents["occurred_at"]).dt.tz_convert("Asia/Shanghai")
    week = when.dt.tz_localize(None).dt.to_period("W-SUN").dt.start_time
    weeks = sorted(week.unique())
    lost = stopped & week.isin(weeks[30:36])
    incidents[~lost].to_parquet(folder / "incidents.parquet", index=False)
    end = sim.end.tz_convert("Asia/Shanghai").tz_localize(None).isoformat()
    config = Config(data=DataConfig(end=end))
    warnings = validate_data(folder, config).dataset.report.warnings
    towns = [w for w in warnings if "from town" in w]
    assert len(towns) == 1 and f"incidents has no rows at all from town {town}" in towns[0]
    assert f"{weeks[30]:%Y-%m-%d}" in towns[0] and "missing_periods" in towns[0]
    # the untouched export: no town is said to have stopped
    write_city(sim, tmp_path / "whole")
    whole = validate_data(tmp_path / "whole", config).dataset.report.warnings
    assert not any("from town" in w for w in whole)
