"""Graph models: the self-exciting GraphHawkes and the logistic GraphDiffusion.

GraphHawkes is checked against a panel drawn from its own model with known
parameters (a ring of grids, Poisson counts period by period); both models are
checked on the simulator's feature frame and on hand-made rows.
"""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from riskwarn.backtest.metrics import log_loss
from riskwarn.errors import RiskwarnError
from riskwarn.models.diffusion import NO_NEIGHBOURS, GraphDiffusion
from riskwarn.models.hawkes import GraphHawkes
from tests.conftest import check_ignores_later_rows, simulated_features

TYPES = ("type_a", "type_b", "type_c")
TRUE_RATE = {"type_a": 0.05, "type_b": 0.1, "type_c": 0.2}
TRUE_OWN = {"lag1": 0.3, "older": 0.1}
TRUE_NBR = {"lag1": 0.05, "older": 0.02}
TRUE_PREC = 0.1
DECAY = 0.5
START = pd.Timestamp("2020-01-06", tz="Asia/Shanghai")


def ring_panel(
    n_grids: int = 200, periods: int = 300, seed: int = 0, busy: float | None = None
) -> tuple[pd.DataFrame, nx.Graph]:
    """Counts drawn period by period from a known self-exciting model on a ring.

    Expected count of grid i in period t: ``rate(type_i) + own . (lag1, older)_i
    + nbr . sum over the two ring neighbours of (lag1, older) + 0.1 log1p(prec)``,
    where ``lag1`` is last period's count and ``older`` the earlier counts decayed
    by half each period. ``busy`` gives grid R000 (type_a) that background instead.
    """
    rng = np.random.default_rng(seed)
    ids = np.array([f"R{i:03d}" for i in range(n_grids)])
    graph = nx.relabel_nodes(nx.cycle_graph(n_grids), dict(enumerate(ids)))
    adj = nx.to_scipy_sparse_array(graph, nodelist=list(ids), format="csr")
    kind = np.arange(n_grids) % 3
    base = np.array([TRUE_RATE[t] for t in TYPES])[kind]
    if busy is not None:
        base[0] = busy
    lag1, older = np.zeros(n_grids), np.zeros(n_grids)
    names = ("lag1", "older", "nbr_lag1", "nbr_older", "prec", "count")
    cols: dict[str, list[np.ndarray]] = {c: [] for c in names}
    for _ in range(periods):
        prec = rng.poisson(1.0, n_grids).astype(float)
        lam = (
            base
            + TRUE_OWN["lag1"] * lag1
            + TRUE_OWN["older"] * older
            + TRUE_NBR["lag1"] * (adj @ lag1)
            + TRUE_NBR["older"] * (adj @ older)
            + TRUE_PREC * np.log1p(prec)
        )
        count = rng.poisson(lam).astype(float)
        values = (lag1, older, adj @ lag1, adj @ older, prec, count)
        for name, value in zip(cols, values, strict=True):
            cols[name].append(value.copy())
        older = DECAY * (older + lag1)
        lag1 = count
    frame = pd.DataFrame(
        {
            "grid_id": np.tile(ids, periods),
            "as_of": np.repeat(START + pd.to_timedelta(7 * np.arange(periods), unit="D"), n_grids),
            **{name: np.concatenate(values) for name, values in cols.items()},
            **{t: np.tile((kind == k).astype(float), periods) for k, t in enumerate(TYPES)},
        }
    )
    frame["label"] = (frame["count"] > 0).astype(int)
    return frame, graph


def ring_model(neighbours: bool = True, **params) -> GraphHawkes:
    """The model the ring was drawn from; the neighbour sums are columns of the frame."""
    return GraphHawkes(
        own_columns=("lag1", "older"),
        neighbour_columns=("nbr_lag1", "nbr_older") if neighbours else (),
        precursor_columns=("prec",),
        type_columns=TYPES,
        **params,
    )


@pytest.fixture(scope="module")
def ring():
    return ring_panel()


@pytest.fixture(scope="module")
def ring_fits(ring):
    X, graph = ring
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the defaults must converge here
        on_counts = ring_model().fit(X, X["label"], count=X["count"])
        on_labels = ring_model().fit(X, X["label"])
    return on_counts, on_labels


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """The simulator's feature frame (rows with a label) and its grid graph."""
    _, frame, graph = simulated_features(tmp_path_factory.mktemp("graph_city"), 200, 104, seed=3)
    return frame[frame["label_h1"].notna()].reset_index(drop=True), graph


# ----------------------------------------------------------------- GraphHawkes


def test_hawkes_recovers_the_parameters_it_was_simulated_with(ring_fits):
    for model in ring_fits:
        assert model.own_coef_["lag1"] == pytest.approx(TRUE_OWN["lag1"], abs=0.03)
        assert model.own_coef_["older"] == pytest.approx(TRUE_OWN["older"], abs=0.03)
        assert model.neighbour_coef_["nbr_lag1"] == pytest.approx(TRUE_NBR["lag1"], abs=0.015)
        assert model.neighbour_coef_["nbr_older"] == pytest.approx(TRUE_NBR["older"], abs=0.015)
        assert model.precursor_coef_["prec"] == pytest.approx(TRUE_PREC, abs=0.03)
        for kind, rate in TRUE_RATE.items():
            assert model.type_rate_[kind] == pytest.approx(rate, rel=0.15)
    on_counts, on_labels = ring_fits
    assert (on_counts.likelihood_, on_labels.likelihood_) == ("poisson", "bernoulli")
    # 0/1 labels only (a censored count) lead to about the same model.
    for name in ("own_coef_", "neighbour_coef_", "precursor_coef_"):
        a, b = getattr(on_counts, name), getattr(on_labels, name)
        assert a.keys() == b.keys()
        np.testing.assert_allclose(list(a.values()), list(b.values()), atol=0.01)


def test_hawkes_log_likelihood_is_the_one_of_its_predictions(ring, ring_fits):
    X, _ = ring
    on_counts, on_labels = ring_fits
    lam = on_counts.predict_expected(X)
    c = X["count"].to_numpy()
    poisson = np.sum(c * np.log(lam) - lam - gammaln(c + 1))
    assert on_counts.log_likelihood_ == pytest.approx(poisson, rel=1e-9)
    p = on_labels.predict_proba(X)[:, 1]
    y = X["label"].to_numpy()
    bernoulli = np.sum(y * np.log(p) + (1 - y) * np.log1p(-p))
    assert on_labels.log_likelihood_ == pytest.approx(bernoulli, rel=1e-9)


def test_hawkes_em_never_lowers_its_objective(ring, ring_fits):
    X, _ = ring
    without_prior = ring_model(prior_periods=0.0).fit(X, X["label"], count=X["count"])
    for model in (*ring_fits, without_prior):
        for path in model.objective_paths_:
            assert np.all(np.diff(path) >= -1e-10 * np.abs(path[:-1]))
        first = model.objective_paths_[0]
        assert len(first) > 5 and first[-1] > first[0]  # the check had something to check
    # Without a prior the objective is the log-likelihood itself, in a single run.
    assert len(without_prior.objective_paths_) == 1
    assert without_prior.objective_paths_[0][-1] == pytest.approx(without_prior.log_likelihood_)
    assert without_prior.n_iter_ == len(without_prior.objective_paths_[0]) - 1


def test_hawkes_shrinks_a_short_history_to_its_type_rate_and_trusts_a_long_one():
    X, _ = ring_panel(n_grids=60, periods=1000, busy=0.6)
    lone = X.iloc[[1]].assign(grid_id="LONE", lag1=0.0, older=0.0, count=0.0, label=0)
    X = pd.concat([X, lone], ignore_index=True)
    model = ring_model(prior_periods=52.0).fit(X, X["label"], count=X["count"])
    # One quiet row: (0 events + 52 periods at the type rate) / (1 + 52) periods.
    assert model.background_["LONE"] == pytest.approx(
        model.type_rate_["type_b"] * 52 / 53, rel=1e-9
    )
    # 1000 rows at 0.6 per period outweigh 52 prior periods at type_a's rate.
    own_evidence = ring_model(prior_periods=0.0).fit(X, X["label"], count=X["count"])
    busy = model.background_["R000"]
    assert busy == pytest.approx(0.6, abs=0.1)
    assert busy == pytest.approx(own_evidence.background_["R000"], rel=0.1)
    assert busy > 5 * model.type_rate_["type_a"]
    # With a huge prior every grid gets its type's rate.
    rigid = ring_model(prior_periods=1e9).fit(X, X["label"], count=X["count"])
    assert rigid.background_["R000"] == pytest.approx(rigid.type_rate_["type_a"], rel=1e-3)


def test_hawkes_parts_add_up_and_make_the_probability(ring, ring_fits):
    X, _ = ring
    model = ring_fits[0]
    parts = model.parts(X)
    assert list(parts.columns) == ["background", "own", "neighbours", "precursors"]
    assert parts.index.equals(X.index) and (parts.to_numpy() >= 0).all()
    expected = model.predict_expected(X)
    np.testing.assert_allclose(parts.sum(axis=1), expected, rtol=1e-12)
    p = model.predict_proba(X)
    np.testing.assert_allclose(p[:, 1], 1 - np.exp(-expected), rtol=1e-12)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    seen = model.background_.reindex(X["grid_id"]).to_numpy()
    np.testing.assert_allclose(parts["background"], seen)
    assert (parts["neighbours"] > 0).any()


def test_hawkes_background_part_covers_the_whole_window(ring):
    X, _ = ring
    model = ring_model(horizon=3).fit(X, X["label"], count=X["count"])
    np.testing.assert_allclose(
        model.parts(X)["background"], 3 * model.background_.reindex(X["grid_id"]).to_numpy()
    )


def test_hawkes_without_a_graph_has_no_neighbour_part(ring):
    X, _ = ring
    model = ring_model(neighbours=False).fit(X, X["label"], count=X["count"])
    assert model.neighbour_coef_ == {}
    assert (model.parts(X)["neighbours"] == 0).all()
    assert model.own_coef_["lag1"] > TRUE_OWN["lag1"]  # the neighbours' share lands elsewhere


def test_hawkes_island_and_unseen_grids(ring, ring_fits):
    X, _ = ring
    model = ring_fits[0]
    last = X[X["as_of"] == X["as_of"].max()]
    island = last.iloc[[2]].assign(  # type_c, no neighbours: their sums are missing
        grid_id="ISLAND", lag1=5.0, older=3.0, nbr_lag1=np.nan, nbr_older=np.nan
    )
    untyped = last.iloc[[0]].assign(grid_id="NOTYPE", type_a=0.0, type_b=0.0, type_c=0.0)
    batch = pd.concat([last, island, untyped], ignore_index=True)
    parts = model.parts(batch)
    # No neighbours: nothing from next door; each row is scored from itself alone.
    assert parts["neighbours"].iloc[-2] == 0.0 and parts["own"].iloc[-2] > 0
    np.testing.assert_array_equal(parts.iloc[: len(last)], model.parts(last).to_numpy())
    # Not seen in fit: the type's rate, or the overall rate without a known type.
    assert parts["background"].iloc[-2] == pytest.approx(model.type_rate_["type_c"])
    assert parts["background"].iloc[-1] == pytest.approx(model.overall_rate_)
    lo, hi = model.type_rate_.min(), model.type_rate_.max()
    assert lo < model.overall_rate_ < hi


# --------------------------------------------------------------- GraphDiffusion


def test_diffusion_design_is_own_and_neighbourhood_log_counts():
    X = pd.DataFrame(
        {
            "grid_id": ["A", "B", "C", "D"],  # D is an island: no neighbourhood
            "as_of": [pd.Timestamp("2024-01-01", tz="UTC")] * 4,
            "v": [1.0, 3.0, 7.0, 4.0],
            "nbr_mean_inc_n_w4": [3.0, 4.0, 3.0, np.nan],
            "ring2_mean_esc_n_w4": [7.0, np.nan, 1.0, np.nan],  # B: neighbours, none two steps out
        }
    )
    nbr = ("nbr_mean_inc_n_w4", "ring2_mean_esc_n_w4")
    model = GraphDiffusion(columns=("v",), neighbour_columns=nbr)
    d = model.design_matrix(X)
    assert list(d.columns) == [
        "log1p_v",
        "log1p_nbr_mean_inc_n_w4",
        "log1p_ring2_mean_esc_n_w4",
        NO_NEIGHBOURS,
    ]
    np.testing.assert_allclose(d["log1p_v"], np.log1p([1.0, 3.0, 7.0, 4.0]))
    np.testing.assert_allclose(d["log1p_nbr_mean_inc_n_w4"], np.log1p([3.0, 4.0, 3.0, 0.0]))
    np.testing.assert_allclose(d["log1p_ring2_mean_esc_n_w4"], np.log1p([7.0, 0.0, 1.0, 0.0]))
    np.testing.assert_array_equal(d[NO_NEIGHBOURS], [0, 0, 0, 1])
    # Each row from itself alone: the design of a row does not depend on the others.
    np.testing.assert_array_equal(model.design_matrix(X.iloc[[3, 1]]), d.iloc[[3, 1]])
    # By default the neighbourhood columns are those the data has (none without a graph).
    assert GraphDiffusion(columns=("v",))._column_names(X) == (["v"], list(nbr))
    alone = GraphDiffusion(columns=("v",))._column_names(X[["grid_id", "as_of", "v"]])
    assert alone == (["v"], [])


def test_diffusion_beats_a_constant_on_later_rows(city):
    frame, graph = city
    cut = np.sort(frame["as_of"].unique())[70]
    train, test = frame[frame["as_of"] < cut], frame[frame["as_of"] >= cut]
    y, y_test = train["label_h1"].astype(int), test["label_h1"].astype(int).to_numpy()
    constant = log_loss(y_test, np.full(len(test), y.mean()))
    for model in (GraphDiffusion(), GraphDiffusion(neighbour_columns=())):
        p = model.fit(train, y).predict_proba(test)[:, 1]
        assert log_loss(y_test, p) < constant
        assert abs(p.mean() - y.mean()) < 0.01  # no class weights: calibrated level
    assert NO_NEIGHBOURS not in GraphDiffusion(neighbour_columns=()).fit(train, y).coef_
    hawkes = GraphHawkes().fit(train, y)
    assert log_loss(y_test, hawkes.predict_proba(test)[:, 1]) < constant


def test_diffusion_down_sampling_keeps_the_probability_scale(city):
    frame, graph = city
    y = frame["label_h1"].astype(int)
    full = GraphDiffusion().fit(frame, y)
    sampled = GraphDiffusion(max_rows=3_000).fit(frame, y)
    assert full.n_rows_trained_ == len(frame) and sampled.n_rows_trained_ < 3_500
    p, q = full.predict_proba(frame)[:, 1], sampled.predict_proba(frame)[:, 1]
    assert q.mean() == pytest.approx(y.mean(), rel=0.15)
    assert np.corrcoef(p, q)[0, 1] > 0.9


# ------------------------------------------------------------ both: contract


MODELS = {"hawkes": GraphHawkes, "diffusion": GraphDiffusion}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_graph_model_contract(name, city):
    frame, _ = city
    model = MODELS[name]()
    params = model.get_params()
    twin = clone(model)  # __init__ only stores parameters
    assert twin.get_params() == params
    with pytest.raises(NotFittedError):
        model.predict_proba(frame)
    before = frame.copy(deep=True)
    y, count = frame["label_h1"].astype(int), frame["count_h1"].astype(int)
    assert model.fit(frame, y, count=count) is model
    pd.testing.assert_frame_equal(frame, before)
    p = model.predict_proba(frame)
    assert p.shape == (len(frame), 2) and np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_graph_model_sees_only_its_training_window(name, city):
    frame, _ = city
    cut = np.sort(frame["as_of"].unique())[60]

    def fit(rows):
        return MODELS[name]().fit(rows, rows["label_h1"].astype(int))

    a, d = check_ignores_later_rows(fit, frame, cut)
    late = (frame["as_of"] >= cut).to_numpy()
    assert not np.array_equal(a[late], d[late])


# --------------------------------------------------------- both: bad inputs


def _tiny() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "grid_id": ["A", "B", "A", "B"],
            "as_of": pd.to_datetime(["2024-01-01"] * 2 + ["2024-01-08"] * 2).tz_localize("UTC"),
            "x": [0.0, 1.0, 2.0, 0.0],
        }
    )


def _hawkes(**params) -> GraphHawkes:
    columns = {"own_columns": ("x",), "neighbour_columns": ("x",), "precursor_columns": None}
    return GraphHawkes(**{**columns, **params})


@pytest.mark.parametrize(
    "make,X,y,count,words",
    [
        (_hawkes, _tiny().drop(columns="x"), [0, 1, 1, 0], None, r"\['x'\]"),
        (_hawkes, _tiny().drop(columns="grid_id"), [0, 1, 1, 0], None, "grid_id"),
        (_hawkes, _tiny(), [0, 2, 1, 0], None, "0/1"),
        (_hawkes, _tiny(), [0, 1, 1, 0], [0, 1, 0, 0], "disagree"),
        (_hawkes, _tiny(), [0, 1, 1, 0], [0, 1, 1], "count"),
        (_hawkes, _tiny().assign(x=[0.0, -1.0, 2.0, 0.0]), [0, 1, 1, 0], None, "negative"),
        (lambda: _hawkes(horizon=0), _tiny(), [0, 1, 1, 0], None, "horizon"),
        (lambda: _hawkes(own_columns="x"), _tiny(), [0, 1, 1, 0], None, r"\('x',\)"),
        (
            lambda: GraphDiffusion(columns=("x", "dis_open")),
            _tiny(),
            [0, 1, 1, 0],
            None,
            "dis_open",
        ),
        (lambda: GraphDiffusion(columns=("x",)), _tiny(), [0, 1, 0.5, 0], None, "0/1"),
        (
            lambda: GraphDiffusion(columns=("x",)),
            _tiny(),
            [0, 1, 1, 0],
            [1, 1, 1, 0],
            "disagree",
        ),
        (lambda: GraphDiffusion(columns=("x",)), _tiny(), [0, 0, 0, 0], None, "with and without"),
        (lambda: GraphDiffusion(columns=("x",), C=0), _tiny(), [0, 1, 1, 0], None, "C must"),
    ],
)
def test_bad_inputs_are_clear_errors(make, X, y, count, words):
    with pytest.raises(RiskwarnError, match=words):
        make().fit(X, y, count=count)
