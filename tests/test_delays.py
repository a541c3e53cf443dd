"""Reporting delays (``recorded_at``): a row is known as of ``t`` only if recorded before ``t``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskwarn.config import Config, DataConfig
from riskwarn.data.contract import RECORDED
from riskwarn.data.validate import load_dataset
from riskwarn.features.build import build_features, prepare_features
from riskwarn.simulate import DataShape, simulate_city, write_city
from tests.conftest import base_tables, write_tables

TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    folder = tmp_path_factory.mktemp("delayed")
    sim = simulate_city(n_grids=20, n_periods=32, seed=11)
    write_city(sim, folder, shape=DataShape(delays=True))
    end = sim.end.tz_convert(TZ).tz_localize(None).isoformat()
    config = Config(data=DataConfig(end=end))
    dataset = load_dataset(folder, config)
    # Some cells without a recording time: those rows are known when they happen.
    inc = dataset.incidents.copy()
    inc.loc[inc.index[::7], RECORDED] = pd.NaT
    dataset = dataclasses.replace(dataset, incidents=inc)
    builder = prepare_features(dataset, config)
    full = builder.to_pandas(labels=True)
    return {"sim": sim, "config": config, "dataset": dataset, "builder": builder, "full": full}


def _known_before(dataset, t: pd.Timestamp):
    """The dataset as a forecaster saw it at ``t``: rows recorded before ``t``, and no
    recording times (so that only the event times decide)."""
    out = {}
    for name, frame in dataset.events.items():
        rec = frame[RECORDED]
        out[name] = frame[rec.isna() | (rec < t)].drop(columns=[RECORDED])
    return dataclasses.replace(dataset, **out)


def _split(frame):
    decay = [c for c in frame.columns if "_decay_" in c]
    return frame.drop(columns=decay), frame[decay].to_numpy(float)


def _assert_same(got, ref):
    a, a_decay = _split(got.reset_index(drop=True))
    b, b_decay = _split(ref.reset_index(drop=True))
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_allclose(a_decay, b_decay, rtol=1e-5, atol=1e-6)


def test_the_simulator_writes_recording_times_after_the_events(city):
    ds, sim = city["dataset"], city["sim"]
    for name, col in (("petitions", "received_at"), ("disputes", "reported_at")):
        frame = ds.events[name]
        delay = (frame[RECORDED] - frame[col]).dt.total_seconds() / 86400
        assert (delay >= 0).all()
        assert 0.1 < (delay > 1).mean() < 0.8  # many the same day, many later
        assert delay.max() > 14  # and a long tail
        assert (frame[RECORDED] < sim.end).all()  # nothing from after the extraction
    # records entered after the extraction moment are not in the export
    written = sum(len(f) for f in ds.events.values())
    assert written < sum(len(getattr(sim, n)) for n in ds.events)


def test_every_as_of_row_sees_only_what_was_recorded_before_it(city):
    ds, b, full, config = city["dataset"], city["builder"], city["full"], city["config"]
    names = [c for c in full.columns if not c.startswith(("label_", "count_"))]
    dates = b.periods.as_of_dates
    for t in (dates[1], dates[len(dates) // 2], dates[-1]):
        t_zone = t.tz_localize(TZ)
        seen = build_features(_known_before(ds, t_zone), config, as_of=t, vocabulary=b.vocabulary)
        _assert_same(full.loc[full["as_of"] == t_zone, names], seen[names])
        # and the one-date build with recorded_at gives the same rows
        one = b.to_pandas(as_of=t)
        _assert_same(one[names], seen[names])


def test_labels_count_by_event_time_not_by_recording_time(city):
    ds, b, full, config = city["dataset"], city["builder"], city["full"], city["config"]
    plain = dataclasses.replace(ds, **{n: f.drop(columns=[RECORDED]) for n, f in ds.events.items()})
    ref = build_features(plain, config, labels=True, vocabulary=b.vocabulary)
    labels = [c for c in full.columns if c.startswith(("label_", "count_"))]
    pd.testing.assert_frame_equal(full[labels], ref[labels])
    # and the delays matter for the features: the same data without them differs
    assert not full["pet_n_w1"].equals(ref["pet_n_w1"])


def test_both_kernels_agree_with_delays(city):
    b = prepare_features(city["dataset"], city["config"], vocabulary=city["builder"].vocabulary)
    b.kernel = "sql"
    _assert_same(b.to_pandas(labels=True), city["full"])


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_rows_recorded_at_or_after_t_change_no_feature_as_of_t(city, data):
    """The as-of property for recording times: removing or altering every row
    recorded at or after ``t`` (whatever its event time) changes nothing up to ``t``."""
    ds, b, full, config = city["dataset"], city["builder"], city["full"], city["config"]
    dates = b.periods.as_of_dates
    t = dates[data.draw(st.integers(min_value=1, max_value=len(dates) - 2))].tz_localize(TZ)
    mode = data.draw(st.sampled_from(["remove", "alter"]))
    cut = {}
    for name, frame in ds.events.items():
        late = frame[RECORDED] >= t
        f = frame[~late] if mode == "remove" else frame.copy()
        if mode == "alter":
            col = "type" if name == "incidents" else "category"
            f.loc[late, col] = "late_word"
            if name == "incidents":
                f.loc[late, "severity"] = 4
        cut[name] = f
    got = build_features(dataclasses.replace(ds, **cut), config, vocabulary=b.vocabulary)
    names = [c for c in full.columns if not c.startswith(("label_", "count_"))]
    keep = full["as_of"] <= t
    _assert_same(got.loc[got["as_of"] <= t, names], full.loc[keep, names])


def test_a_record_entered_before_it_happened_is_quarantined(tmp_path):
    tables = base_tables()
    inc = tables["incidents"].copy()
    inc[RECORDED] = inc["occurred_at"]
    inc.loc[0, RECORDED] = "2023-01-01T00:00:00+08:00"  # before its occurred_at
    tables["incidents"] = inc
    config = Config(data=DataConfig(end="2023-03-06"))
    ds = load_dataset(write_tables(tmp_path, tables), config)
    reasons = ds.quarantine["incidents"]["reason"].tolist()
    assert any("recorded_at: before occurred_at" in r for r in reasons), reasons
    assert len(ds.incidents) == len(inc) - 1


def test_simulate_delays_writes_a_recorded_at_that_validates_and_inspect_maps_it(tmp_path):
    import json

    from riskwarn.cli import main
    from riskwarn.data.inspect import inspect_folder

    out = tmp_path / "city"
    args = ["simulate", "--out", str(out), "--grids", "9", "--periods", "12", "--format", "csv"]
    assert main([*args, "--delays", "--minimal-columns"]) == 0
    meta = json.loads((out / "_truth" / "simulation.json").read_text())
    assert meta["shape"]["delays"] is True
    incidents = pd.read_csv(out / "incidents.csv")
    assert RECORDED in incidents.columns and incidents[RECORDED].notna().all()
    from riskwarn.config import load_config

    ds = load_dataset(out, load_config(out / "_truth" / "label.toml"))
    assert all(len(q) == 0 for q in ds.quarantine.values())
    # without --delays there is no such column
    assert main([*args, "--out", str(tmp_path / "plain")]) == 0
    assert RECORDED not in pd.read_csv(tmp_path / "plain" / "incidents.csv").columns
    # a city's own header for it is proposed as recorded_at
    incidents.rename(columns={RECORDED: "录入时间"}).to_csv(out / "incidents.csv", index=False)
    found = inspect_folder(out)
    assert found.tables["incidents"].columns.get(RECORDED) == "录入时间"
    assert any(n.startswith("incidents: ") and "recorded a day or more" in n for n in found.notes)


def test_a_delay_scale_stretches_the_same_draws():
    from riskwarn.simulate.delays import with_recorded_at

    sim = simulate_city(n_grids=4, n_periods=8, seed=2)
    far = sim.end + pd.Timedelta(days=100_000)  # nothing left out
    one, four = (with_recorded_at(sim.tables(), 2, far, s) for s in (1.0, 4.0))
    for name, col in (("incidents", "occurred_at"), ("disputes", "reported_at")):
        d1 = (one[name][RECORDED] - one[name][col]).dt.total_seconds()
        d4 = (four[name][RECORDED] - four[name][col]).dt.total_seconds()
        np.testing.assert_allclose(d4, 4 * d1, atol=2)
    with pytest.raises(ValueError, match="scale"):
        with_recorded_at(sim.tables(), 2, far, 0.0)
