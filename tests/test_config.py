"""Config files: defaults, strict keys, clear errors."""

from __future__ import annotations

import pytest

from riskwarn.config import (
    Config,
    LabelConfig,
    LabelRule,
    config_from_dict,
    higher_is_better,
    load_config,
)
from riskwarn.errors import ConfigError


def test_defaults_without_a_file():
    cfg = load_config(None)
    assert cfg == Config()
    assert (cfg.data.freq, cfg.data.timezone, cfg.graph.k) == ("W-MON", "Asia/Shanghai", 6)


def test_reads_known_sections_and_keeps_others(tmp_path):
    p = tmp_path / "e.toml"
    p.write_text(
        '[data]\nfreq = "MS"\n[graph]\nk = 4\n[label]\nhorizon = 2\n[extra_section]\nx = 1\n'
    )
    cfg = load_config(p)
    assert cfg.data.freq == "MS" and cfg.graph.k == 4
    assert cfg.label.horizon == 2 and cfg.label.any_of == LabelConfig().any_of
    assert cfg.extra == {"extra_section": {"x": 1}}


def test_label_rules(tmp_path):
    p = tmp_path / "e.toml"
    p.write_text(
        "[label]\nhorizon = 4\n"
        '[[label.any_of]]\ntable = "incidents"\ncolumn = "severity"\nop = ">="\nvalue = 3\n'
        '[[label.any_of]]\ntable = "petitions"\ncolumn = "category"\nop = "in"\n'
        'value = ["land_requisition", "demolition"]\n'
    )
    cfg = load_config(p)
    assert cfg.label.any_of == (
        LabelRule("incidents", "severity", ">=", 3),
        LabelRule("petitions", "category", "in", ("land_requisition", "demolition")),
    )


@pytest.mark.parametrize(
    "text,words",
    [
        ('[data]\nfreqency = "MS"\n', "unknown key"),
        ('[data]\nfreq = "fortnightly"\n', "pandas offset alias"),
        ('[data]\ntimezone = "Beijing"\n', "IANA time zone"),
        ('[data]\nend = "soon"\n', "not a date"),
        ("[graph]\nk = 0\n", "k must be"),
        ("[data\n", "not valid TOML"),
        ("[label]\nhorizon = 0\n", "horizon must be"),
        ("[label]\nwindow = 3\n", "unknown key"),
        (
            '[[label.any_of]]\ntable = "incidents"\ncolumn = "severity"\nop = "=~"\nvalue = 3\n',
            "op",
        ),
        (
            '[[label.any_of]]\ntable = "incidents"\ncolumn = "severity"\nop = "in"\nvalue = 3\n',
            "list",
        ),
        (
            '[[label.any_of]]\ntable = "incidents"\ncolumn = "severity"\nop = ">="\n',
            "exactly the keys",
        ),
        ("[backtest]\nstep = 0\n", "step must be"),
        ("[backtest]\nrefit_every = 1.5\n", "refit_every must be"),
        ('[backtest]\nmodels = ["lightgbm", "xgboost"]\n', "xgboost"),
        ('[backtest]\nmodels = ["lightgbm", "lightgbm"]\n', "twice"),
        ("[backtest]\nmodels = []\n", "non-empty"),
        ("[backtest]\nk = [0.05, 5]\n", "shares of grids"),
        ('[backtest]\nstart = "someday"\n', "not a date"),
        ("[backtest]\nseed = -1\n", "seed"),
        ("[backtest]\nwindow = 3\n", "unknown key"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path, text, words):
    p = tmp_path / "e.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=words):
        load_config(p)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_default_experiment_file_matches_the_built_in_defaults():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "experiments" / "default.toml"
    cfg = load_config(path)
    assert (cfg.data, cfg.graph, cfg.label, cfg.features, cfg.backtest) == (
        Config().data,
        Config().graph,
        Config().label,
        Config().features,
        Config().backtest,
    )


def test_backtest_section(tmp_path):
    p = tmp_path / "b.toml"
    p.write_text(
        '[backtest]\nstart = 2023-01-02\nend = "2023-12-25"\nstep = 2\nrefit_every = 13\n'
        'models = ["hotspot", "ensemble"]\nk = [0.1, 0.01]\nseed = 7\n'
    )
    bt = load_config(p).backtest
    assert (bt.start, bt.end, bt.step, bt.refit_every) == ("2023-01-02", "2023-12-25", 2, 13)
    assert bt.models == ("hotspot", "ensemble") and bt.k == (0.01, 0.1) and bt.seed == 7


def test_train_and_watchlist_sections_are_checked(tmp_path):
    cfg = config_from_dict(
        {
            "train": {"metric": "pai_at_5pct", "model": "lightgbm"},
            "watchlist": {"tiers": [0.1, 0.02], "suppress_below": 5},
        }
    )
    assert cfg.train.metric == "pai_at_5pct" and cfg.train.model == "lightgbm"
    assert cfg.watchlist.tiers == (0.02, 0.1) and cfg.watchlist.suppress_below == 5
    assert higher_is_better("ap") and higher_is_better("pai_at_5pct")
    assert not higher_is_better("brier") and not higher_is_better("missed_at_1pct")
    bad = [
        ({"train": {"model": "magic"}}, "model 'magic' is unknown"),
        ({"train": {"metric": "accuracy"}}, "not a backtest metric"),
        ({"train": {"metric": "pai_at_2pct"}}, "not a backtest metric"),
        ({"train": {"registered_name": " "}}, "registered_name"),
        ({"train": {"modle": "ensemble"}}, "modle"),
        ({"watchlist": {"tiers": []}}, "tiers"),
        ({"watchlist": {"tiers": [0.0, 0.1]}}, "tiers"),
        ({"watchlist": {"tiers": [0.1, 0.1]}}, "tiers"),
        ({"watchlist": {"reasons": -1}}, "reasons"),
        ({"watchlist": {"suppress_below": True}}, "suppress_below"),
    ]
    for raw, message in bad:
        with pytest.raises(ConfigError, match=message):
            config_from_dict(raw)


def test_config_round_trips_through_a_plain_mapping():
    import json

    from riskwarn.config import config_to_dict

    raw = {
        "data": {"end": "2025-01-01", "timezone": "Europe/Berlin"},
        "label": {
            "horizon": 2,
            "any_of": [{"table": "petitions", "column": "category", "op": "in", "value": ["a"]}],
        },
        "backtest": {"models": ["hist_rate", "lightgbm"], "train_periods": 20},
        "watchlist": {"tiers": [0.02]},
    }
    cfg = config_from_dict(raw)
    mapping = json.loads(json.dumps(config_to_dict(cfg)))
    again = config_from_dict(mapping)
    assert again == config_from_dict(raw)
    assert config_to_dict(Config())["backtest"].get("start") is None
