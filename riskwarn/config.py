"""Experiment configuration (TOML) with the keys of DESIGN.md.

Known sections are checked strictly (a misspelt key is an error, not a silent
default); unknown sections are kept so later stages can add their own.
"""

from __future__ import annotations

import dataclasses
import tomllib
import zoneinfo
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from riskwarn.errors import ConfigError

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_FREQ = "W-MON"


@dataclass(frozen=True)
class DataConfig:
    """``[data]``: how time is cut and read.

    ``end`` is the moment the data was extracted (naive = local time); events after
    it are row errors. When it is not set, validation uses the time of the run (no
    real event lies in the future) and the panel ends with the period that holds the
    latest event. ``start`` is the first period of the panel (default: the period
    that holds the earliest event).

    A city's own exports: ``encoding`` is the text encoding of its CSV files (default:
    detected, UTF-8 with or without a BOM, else GB18030, which covers GBK);
    ``columns`` maps, per table, each contract column to the city's column name
    (``[data.columns.petitions] received_at = "登记时间"``); ``values`` maps, per table
    and contract column, the city's words to contract values
    (``[data.values.disputes.status] "已化解" = "resolved"``); ``sheets`` names, per
    table, the worksheet of its ``.xlsx`` file (default: the first).
    ``missing_periods`` lists dates whose periods the export does not cover (an
    extraction gap): labels whose window covers one are missing. ``drop_pii``: drop
    the columns that identify people (never read) instead of stopping on them, in
    every command; a model trained so scores so (``--drop-pii`` sets it).
    """

    freq: str = DEFAULT_FREQ
    timezone: str = DEFAULT_TIMEZONE
    start: str | None = None
    end: str | None = None
    encoding: str | None = None
    columns: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    sheets: dict = field(default_factory=dict)
    missing_periods: tuple[str, ...] = ()
    drop_pii: bool = False


def with_drop_pii(cfg: Config, drop: bool = True) -> Config:
    """``cfg`` with ``[data] drop_pii`` set (unchanged when ``drop`` is False)."""
    if not drop:
        return cfg
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, drop_pii=True))


@dataclass(frozen=True)
class GraphConfig:
    """``[graph]``: how the grid graph is built when there is no adjacency table."""

    k: int = 6


@dataclass(frozen=True)
class FeaturesConfig:
    """``[features]``: trailing windows and decay half-lives, in periods."""

    windows: tuple[int, ...] = (1, 4, 13, 52)
    category_windows: tuple[int, ...] = (4, 13)
    half_lives: tuple[int, ...] = (4, 13)
    top_categories: int = 6
    spatial: bool = True


MODEL_NAMES = (
    "persistence",
    "hist_rate",
    "shrunk_rate",
    "hotspot",
    "graph_hotspot",
    "lightgbm",
    "graph_hawkes",
    "graph_diffusion",
    "ensemble",
)


@dataclass(frozen=True)
class BacktestConfig:
    """``[backtest]``: the rolling origin and what it evaluates.

    ``start``/``end`` are the first and last test as-of dates (period boundaries;
    ``start`` defaults to a year of periods before ``end``, ``end`` to the last date
    whose label window is observed). ``models`` defaults to every model. ``seed``
    seeds every model; ``k`` are the shares of grids for the top-k metrics;
    ``population_bands`` is how many equal-count population bands the fairness
    view splits grids into; ``fairness_ratio`` is how far a group's share of the
    top k may be from its share of escalations (either way, as a ratio) before
    ``metrics.md`` and the report flag it. ``train_periods`` limits each fit to the latest that
    many as-of dates of training rows (default: all history). ``n_jobs`` is how
    many (fold, horizon) fits run at once, in threads; the results do not depend on it.
    """

    start: str | None = None
    end: str | None = None
    step: int = 1
    refit_every: int = 4
    models: tuple[str, ...] = MODEL_NAMES
    seed: int = 0
    k: tuple[float, ...] = (0.01, 0.05, 0.1)
    population_bands: int = 3
    fairness_ratio: float = 1.5
    train_periods: int | None = None
    n_jobs: int = 2


@dataclass(frozen=True)
class TrainConfig:
    """``[train]``: what ``riskwarn train`` fits, and what decides its promotion.

    ``model`` is the model trained and registered (a ``[backtest]`` model name);
    ``metric`` is the backtest metric at the label horizon that a new version must
    beat the champion (or, for the first version, the best baseline) on: higher is
    better except for ``brier``, ``log_loss``, ``ece`` and ``missed_at_*``.
    ``registered_name`` is the MLflow registered model.

    For ``riskwarn train --engine spark`` (a province): ``sample_rows`` is the size
    of the training sample brought to one machine (negatives down-sampled, each
    kept row weighted by its inverse rate), ``backtest_grids`` how many whole grids,
    drawn at random, the backtest runs on.
    """

    model: str = "ensemble"
    metric: str = "ap"
    registered_name: str = "riskwarn-escalation"
    sample_rows: int = 200_000
    backtest_grids: int = 20_000


@dataclass(frozen=True)
class WatchlistConfig:
    """``[watchlist]``: what ``riskwarn score`` writes.

    ``tiers`` are the top shares of grids of tiers 1, 2, 3 …; ``reasons`` is the
    number of reasons per grid; raw event counts from 1 to ``suppress_below`` − 1
    are shown as "fewer than ``suppress_below``" (0 turns suppression off).
    """

    tiers: tuple[float, ...] = (0.01, 0.05, 0.1)
    reasons: int = 3
    suppress_below: int = 3
    #: Grids the teams can take per period (the plan, ``in_plan``): one number, for the
    #: city or for each ``capacity_by`` group, or a table of numbers by group; None: no plan.
    capacity: int | dict[str, int] | None = None
    #: ``"town"`` or ``"district"``: the capacity applies per group of the grids table.
    capacity_by: str | None = None
    #: Periods a grid stays in the plan once it entered (unless its risk falls far).
    hold_periods: int = 0
    #: The exit rule: a held grid leaves when its score is below this share of the
    #: group's cut-off score.
    exit_ratio: float = 0.5
    #: Hysteresis: a grid in the plan is replaced only by a score above this multiple of
    #: its own.
    enter_margin: float = 1.2


@dataclass(frozen=True)
class ForecastConfig:
    """``[forecast]``: the count distribution's intervals.

    ``quantiles`` are the levels of the ``events_q{NN}`` columns (each ``q < 0.5``
    with its ``1 - q`` is a central interval, calibrated by conformal prediction);
    ``bands`` is how many equal-count risk bands the calibration and the coverage
    metrics split the rows into; ``calibration_periods`` is how many of the latest
    out-of-sample as-of dates calibrate the intervals.
    """

    quantiles: tuple[float, ...] = (0.1, 0.9)
    bands: int = 5
    calibration_periods: int = 26


@dataclass(frozen=True)
class SinkConfig:
    """``[sink]``: a database that ``riskwarn score`` also writes the watchlist into.

    ``url`` is ``postgresql://USER@HOST:PORT/DB`` without a password (it comes from
    ``PGPASSWORD`` or a ``.pgpass`` file); ``RISKWARN_SINK`` and ``--sink`` override it.
    """

    url: str | None = None


def k_label(k: float) -> str:
    """``0.05`` → ``"5pct"``, as used in metric names (``precision_at_5pct``)."""
    return f"{k * 100:g}pct".replace(".", "_")


LOWER_IS_BETTER = ("brier", "log_loss", "ece", "missed_at_")


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of a backtest metric is better."""
    return not any(
        metric == m or (m.endswith("_") and metric.startswith(m)) for m in LOWER_IS_BETTER
    )


LABEL_OPS = ("==", "!=", ">", ">=", "<", "<=", "in")


@dataclass(frozen=True)
class LabelRule:
    """One ``[[label.any_of]]`` rule: an event matches when ``column op value``."""

    table: str
    column: str
    op: str
    value: Any


@dataclass(frozen=True)
class LabelConfig:
    """``[label]``: a grid-period is positive when any rule matches an event in the window.

    The default is the design's example: a serious incident (severity >= 3) or a
    collective petition (group_size >= 5), over the next 4 periods.
    """

    horizon: int = 4
    any_of: tuple[LabelRule, ...] = (
        LabelRule("incidents", "severity", ">=", 3),
        LabelRule("petitions", "group_size", ">=", 5),
    )


@dataclass(frozen=True)
class Config:
    """A whole experiment config. ``extra`` holds sections this module does not own."""

    data: DataConfig = field(default_factory=DataConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    label: LabelConfig = field(default_factory=LabelConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    watchlist: WatchlistConfig = field(default_factory=WatchlistConfig)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    sink: SinkConfig = field(default_factory=SinkConfig)
    extra: dict[str, Any] = field(default_factory=dict)
    source: str | None = None


def _section(cls: type, raw: dict[str, Any], name: str, source: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [{name}] must be a table of keys, got {raw!r}.")
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {unknown} in [{name}]; allowed keys are {sorted(allowed)}."
        )
    return cls(**raw)


def _check(cfg: Config) -> Config:
    src = cfg.source or "config"
    try:
        zoneinfo.ZoneInfo(cfg.data.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"{src}: [data] timezone = {cfg.data.timezone!r} is not an IANA time zone "
            "(for example 'Asia/Shanghai')."
        ) from exc
    try:
        pd.tseries.frequencies.to_offset(cfg.data.freq)
    except ValueError as exc:
        raise ConfigError(
            f"{src}: [data] freq = {cfg.data.freq!r} is not a pandas offset alias "
            "(for example 'W-MON', 'MS' or 'D')."
        ) from exc
    for key in ("start", "end"):
        value = getattr(cfg.data, key)
        if value is not None:
            try:
                pd.Timestamp(value)
            except ValueError as exc:
                raise ConfigError(f"{src}: [data] {key} = {value!r} is not a date.") from exc
    top = cfg.features.top_categories
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise ConfigError(f"{src}: [features] top_categories must be a whole number >= 0.")
    if not isinstance(cfg.graph.k, int) or cfg.graph.k < 1:
        raise ConfigError(f"{src}: [graph] k must be a whole number >= 1, got {cfg.graph.k!r}.")
    return cfg


def _label(raw: Any, source: str) -> LabelConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [label] must be a table of keys.")
    unknown = sorted(set(raw) - {"horizon", "any_of"})
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {unknown} in [label]; allowed: horizon, any_of."
        )
    horizon = raw.get("horizon", LabelConfig.horizon)
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ConfigError(
            f"{source}: [label] horizon must be a whole number >= 1, got {horizon!r}."
        )
    if "any_of" not in raw:
        return LabelConfig(horizon=horizon)
    rules = raw["any_of"]
    if not isinstance(rules, list) or not rules:
        raise ConfigError(f"{source}: [[label.any_of]] must list at least one rule.")
    parsed = []
    for n, rule in enumerate(rules, 1):
        where = f"{source}: [[label.any_of]] rule {n}"
        if not isinstance(rule, dict) or set(rule) != {"table", "column", "op", "value"}:
            raise ConfigError(f"{where} needs exactly the keys table, column, op, value.")
        op, value = rule["op"], rule["value"]
        if op not in LABEL_OPS:
            raise ConfigError(f"{where}: op {op!r} is not one of {' '.join(LABEL_OPS)}.")
        if op == "in":
            if not isinstance(value, list) or not value:
                raise ConfigError(f"{where}: op 'in' needs a non-empty list as value.")
            value = tuple(value)
        elif isinstance(value, (list, dict)):
            raise ConfigError(f"{where}: op {op!r} needs a single value, not {value!r}.")
        parsed.append(LabelRule(str(rule["table"]), str(rule["column"]), op, value))
    return LabelConfig(horizon=horizon, any_of=tuple(parsed))


def _data(raw: Any, source: str) -> DataConfig:
    """``[data]``, with the shape of its mappings checked (their names are the data room's)."""
    data = _section(DataConfig, raw, "data", source)
    if data.encoding is not None:
        import codecs

        try:
            codecs.lookup(str(data.encoding))
        except (LookupError, TypeError) as exc:
            raise ConfigError(
                f"{source}: [data] encoding = {data.encoding!r} is not a text encoding "
                "(for example 'utf-8' or 'gb18030')."
            ) from exc
    columns = data.columns
    if not isinstance(columns, dict) or not all(
        isinstance(m, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in m.items())
        for m in columns.values()
    ):
        raise ConfigError(
            f"{source}: [data.columns.<table>] maps each contract column to the city's column "
            'name, as text: [data.columns.petitions] received_at = "登记时间".'
        )
    for table, mapping in columns.items():
        names = list(mapping.values())
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigError(
                f"{source}: [data.columns.{table}] gives the city's column(s) {twice} to more "
                "than one contract column."
            )
    missing = data.missing_periods
    if not isinstance(missing, list | tuple) or not all(isinstance(d, str) for d in missing):
        raise ConfigError(f'{source}: [data] missing_periods is a list of dates: ["2023-03-01"].')
    for d in missing:
        try:
            pd.Timestamp(d)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{source}: [data] missing_periods: {d!r} is not a date.") from exc
    data = dataclasses.replace(data, missing_periods=tuple(missing))
    if not isinstance(data.drop_pii, bool):
        raise ConfigError(f"{source}: [data] drop_pii is true or false.")
    if not isinstance(data.sheets, dict) or not all(
        isinstance(v, str) for v in data.sheets.values()
    ):
        raise ConfigError(
            f'{source}: [data.sheets] names each table\'s worksheet: petitions = "信访台账".'
        )
    values = data.values
    scalar = (str, bool, int, float)
    if not isinstance(values, dict) or not all(
        isinstance(cols, dict)
        and all(
            isinstance(words, dict)
            and all(isinstance(k, str) and isinstance(v, scalar) for k, v in words.items())
            for words in cols.values()
        )
        for cols in values.values()
    ):
        raise ConfigError(
            f"{source}: [data.values.<table>.<column>] maps the city's words to contract "
            'values: [data.values.disputes.status] "已化解" = "resolved".'
        )
    return data


def _backtest(raw: Any, source: str) -> BacktestConfig:
    raw = dict(raw) if isinstance(raw, dict) else raw
    if isinstance(raw, dict):
        for key in ("models", "k"):
            if key in raw:
                if not isinstance(raw[key], list) or not raw[key]:
                    raise ConfigError(f"{source}: [backtest] {key} must be a non-empty list.")
                raw[key] = tuple(raw[key])
    bt = _section(BacktestConfig, raw, "backtest", source)
    for key in ("step", "refit_every", "population_bands", "train_periods", "n_jobs"):
        value = getattr(bt, key)
        if value is None and key == "train_periods":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{source}: [backtest] {key} must be a whole number >= 1.")
    if isinstance(bt.seed, bool) or not isinstance(bt.seed, int) or bt.seed < 0:
        raise ConfigError(f"{source}: [backtest] seed must be a whole number >= 0.")
    unknown = [m for m in bt.models if m not in MODEL_NAMES]
    if unknown:
        raise ConfigError(
            f"{source}: [backtest] models {unknown} are unknown; choose from "
            f"{', '.join(MODEL_NAMES)}."
        )
    if len(set(bt.models)) != len(bt.models):
        raise ConfigError(f"{source}: [backtest] models lists a model twice.")
    ratio = bt.fairness_ratio
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio > 1:
        raise ConfigError(
            f"{source}: [backtest] fairness_ratio must be a number > 1 (e.g. 1.5: a group "
            "holding 1.5 times, or 1/1.5 of, its share of escalations in the top k is flagged)."
        )
    if any(isinstance(k, bool) or not isinstance(k, (int, float)) or not 0 < k <= 1 for k in bt.k):
        raise ConfigError(f"{source}: [backtest] k must list shares of grids in (0, 1].")
    for key in ("start", "end"):
        value = getattr(bt, key)
        if value is not None:
            try:
                pd.Timestamp(value)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{source}: [backtest] {key} = {value!r} is not a date.") from exc
    return BacktestConfig(
        start=None if bt.start is None else str(bt.start),
        end=None if bt.end is None else str(bt.end),
        step=bt.step,
        refit_every=bt.refit_every,
        models=tuple(bt.models),
        seed=bt.seed,
        k=tuple(sorted({float(k) for k in bt.k})),
        population_bands=bt.population_bands,
        fairness_ratio=float(bt.fairness_ratio),
        train_periods=bt.train_periods,
        n_jobs=bt.n_jobs,
    )


_METRICS = ("ap", "roc_auc", "brier", "log_loss", "ece")
_TOP_K = ("precision", "recall", "missed", "pai", "pei_star", "ndcg")


def _train(raw: Any, source: str, backtest: BacktestConfig) -> TrainConfig:
    train = _section(TrainConfig, raw, "train", source)
    if train.model not in MODEL_NAMES:
        raise ConfigError(
            f"{source}: [train] model {train.model!r} is unknown; choose from "
            f"{', '.join(MODEL_NAMES)}."
        )
    k_names = [k_label(k) for k in backtest.k]
    known = [*_METRICS, *(f"{m}_at_{k}" for m in _TOP_K for k in k_names)]
    if train.metric not in known:
        raise ConfigError(
            f"{source}: [train] metric {train.metric!r} is not a backtest metric; choose from "
            f"{', '.join(known)}."
        )
    if not isinstance(train.registered_name, str) or not train.registered_name.strip():
        raise ConfigError(f"{source}: [train] registered_name must be a non-empty string.")
    for key, least in (("sample_rows", 1_000), ("backtest_grids", 1)):
        value = getattr(train, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(
                f"{source}: [train] {key} must be an integer >= {least}, got {value!r}."
            )
    return train


def _watchlist(raw: Any, source: str) -> WatchlistConfig:
    raw = dict(raw) if isinstance(raw, dict) else raw
    if isinstance(raw, dict) and "tiers" in raw:
        tiers = raw["tiers"]
        if (
            not isinstance(tiers, list)
            or not tiers
            or any(
                isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t <= 1
                for t in tiers
            )
            or len(set(tiers)) != len(tiers)
        ):
            raise ConfigError(
                f"{source}: [watchlist] tiers must list distinct shares of grids in (0, 1]."
            )
        raw["tiers"] = tuple(sorted(float(t) for t in tiers))
    if isinstance(raw, dict) and isinstance(raw.get("capacity"), dict):
        raw["capacity"] = {str(k): v for k, v in raw["capacity"].items()}
    wl = _section(WatchlistConfig, raw, "watchlist", source)
    for key, low in (("reasons", 0), ("suppress_below", 0), ("hold_periods", 0)):
        value = getattr(wl, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{source}: [watchlist] {key} must be a whole number >= {low}.")
    capacity = wl.capacity
    counts = capacity.values() if isinstance(capacity, dict) else [capacity]
    if capacity is not None and (
        (isinstance(capacity, dict) and not capacity)
        or any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in counts)
    ):
        raise ConfigError(
            f"{source}: [watchlist] capacity must be a whole number of grids >= 0 (e.g. 20), "
            'or a table of them by town or district (capacity = {"Town A" = 5, "Town B" = 3}).'
        )
    if wl.capacity_by is not None and wl.capacity_by not in ("town", "district"):
        raise ConfigError(f'{source}: [watchlist] capacity_by must be "town" or "district".')
    if isinstance(capacity, dict) and wl.capacity_by is None:
        raise ConfigError(
            f'{source}: [watchlist] capacity is a table by group: set capacity_by = "town" '
            'or "district".'
        )
    for key, low, high in (("exit_ratio", 0.0, 1.0), ("enter_margin", 1.0, None)):
        value = getattr(wl, key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or value < low
            or (high is not None and value > high)
        ):
            span = f"in [{low:g}, {high:g}]" if high is not None else f">= {low:g}"
            raise ConfigError(f"{source}: [watchlist] {key} must be a number {span}.")
    return dataclasses.replace(
        wl, exit_ratio=float(wl.exit_ratio), enter_margin=float(wl.enter_margin)
    )


def quantile_column(q: float) -> str:
    """``0.1`` → ``"events_q10"``, ``0.05`` → ``"events_q05"``, ``0.025`` → ``"events_q02_5"``."""
    whole, _, frac = f"{float(q) * 100:.6g}".partition(".")
    return f"events_q{int(whole):02d}" + (f"_{frac}" if frac else "")


def quantile_level(column: str) -> float:
    """``"events_q10"`` → 0.1, ``"events_q02_5"`` → 0.025: the inverse of :func:`quantile_column`."""
    return float(column.removeprefix("events_q").replace("_", ".")) / 100


def check_quantiles(quantiles) -> tuple[float, ...]:
    """The levels, sorted; an error for a level outside (0, 1) or a repeated column name."""
    try:
        levels = tuple(sorted(float(q) for q in quantiles))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"quantiles must be numbers in (0, 1), got {quantiles!r}.") from exc
    if any(isinstance(q, bool) for q in quantiles) or any(not 0 < q < 1 for q in levels):
        raise ConfigError(f"quantiles must be numbers in (0, 1), got {list(quantiles)}.")
    names = [quantile_column(q) for q in levels]
    if len(set(names)) != len(names):
        raise ConfigError(f"quantiles {list(levels)} give the same column twice: {names}.")
    return levels


def _forecast(raw: Any, source: str) -> ForecastConfig:
    raw = dict(raw) if isinstance(raw, dict) else raw
    if isinstance(raw, dict) and "quantiles" in raw:
        if not isinstance(raw["quantiles"], list) or not raw["quantiles"]:
            raise ConfigError(f"{source}: [forecast] quantiles must be a list of levels in (0, 1).")
        try:
            raw["quantiles"] = check_quantiles(raw["quantiles"])
        except ConfigError as exc:
            raise ConfigError(f"{source}: [forecast] {exc}") from exc
    fc = _section(ForecastConfig, raw, "forecast", source)
    for key in ("bands", "calibration_periods"):
        value = getattr(fc, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{source}: [forecast] {key} must be a whole number >= 1.")
    return fc


_SINK_DRIVERS = ("postgresql", "postgres", "postgresql+psycopg")


def check_sink_url(url: str, *, allow_password: bool = True) -> sa.URL:
    """The URL parsed for psycopg; an error naming the fix for anything else.

    ``allow_password=False`` (a config file, which MLflow logs with the model) refuses
    a password in the URL.
    """
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise ConfigError(
            "the sink must be a URL like postgresql://USER@HOST:PORT/DB; the password comes "
            "from PGPASSWORD or a .pgpass file."
        ) from None
    if parsed.drivername not in _SINK_DRIVERS:
        raise ConfigError(
            f"the sink {masked_url(parsed)} is not PostgreSQL: use postgresql://USER@HOST:PORT/DB."
        )
    if not parsed.database:
        raise ConfigError(
            f"the sink {masked_url(parsed)} names no database: postgresql://USER@HOST:PORT/DB."
        )
    if parsed.password is not None and not allow_password:
        raise ConfigError(
            "[sink] url holds a password, and the config is logged with every model: remove it "
            "and put the password in PGPASSWORD or a .pgpass file (host:port:db:user:password)."
        )
    return parsed.set(drivername="postgresql+psycopg")


def masked_url(url: sa.URL) -> str:
    """A URL as it may be printed: its password masked."""
    return url.render_as_string(hide_password=True)


def _sink(raw: Any, source: str) -> SinkConfig:
    sink = _section(SinkConfig, raw, "sink", source)
    if sink.url is not None:
        if not isinstance(sink.url, str) or not sink.url.strip():
            raise ConfigError(f"{source}: [sink] url must be a postgresql://USER@HOST:PORT/DB URL.")
        try:
            check_sink_url(sink.url, allow_password=False)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return sink


def config_from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    """Build a checked :class:`Config` from a parsed TOML mapping."""
    raw = dict(raw)
    data = _data(raw.pop("data", {}), source)
    graph = _section(GraphConfig, raw.pop("graph", {}), "graph", source)
    label = _label(raw.pop("label", {}), source)
    feats = dict(raw.pop("features", {}))
    for key in ("windows", "category_windows", "half_lives"):
        if key in feats:
            value = feats[key]
            if (
                not isinstance(value, list)
                or not value
                or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value)
            ):
                raise ConfigError(
                    f"{source}: [features] {key} must be a list of whole numbers >= 1."
                )
            feats[key] = tuple(sorted(set(value)))
    features = _section(FeaturesConfig, feats, "features", source)
    backtest = _backtest(raw.pop("backtest", {}), source)
    train = _train(raw.pop("train", {}), source, backtest)
    watchlist = _watchlist(raw.pop("watchlist", {}), source)
    forecast = _forecast(raw.pop("forecast", {}), source)
    sink = _sink(raw.pop("sink", {}), source)
    cfg = Config(
        data=data,
        graph=graph,
        label=label,
        features=features,
        backtest=backtest,
        train=train,
        watchlist=watchlist,
        forecast=forecast,
        sink=sink,
        extra=raw,
        source=source,
    )
    return _check(cfg)


def load_config(path: str | Path | None) -> Config:
    """Read an experiment TOML file; ``None`` gives the built-in defaults."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {p} does not exist.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {p} is not valid TOML: {exc}.") from exc
    return config_from_dict(raw, source=str(p))


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """The config as the TOML mapping it came from (``config_from_dict`` reads it back).

    Unset optional keys are left out, so the mapping is valid TOML and JSON.
    """

    def plain(value: Any) -> Any:
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, LabelRule):
            return {k: plain(getattr(value, k)) for k in ("table", "column", "op", "value")}
        return value

    out: dict[str, Any] = {}
    for section in (
        "data",
        "graph",
        "label",
        "features",
        "backtest",
        "train",
        "watchlist",
        "forecast",
        "sink",
    ):
        values = getattr(cfg, section)
        out[section] = {
            f.name: plain(getattr(values, f.name))
            for f in fields(values)
            if getattr(values, f.name) is not None
        }
    out.update(cfg.extra)
    return out
