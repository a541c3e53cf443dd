"""Fitted models as plain data: a JSON-ready state and LightGBM text, never pickle.

:func:`model_state` walks a fitted model (an ensemble and its components, their
calibrators and scalers) and returns a JSON-ready dict plus the LightGBM boosters
in LightGBM's own text format; :func:`model_from_state` rebuilds the model from
them. Only the classes listed in ``KNOWN_CLASSES`` can be rebuilt: a state names a
class by a short key, never by an import path, so loading a state cannot import or
run anything else. The grid graph is not part of a state; a model that takes one
(the scorer) gets it back as a parameter.
"""

from __future__ import annotations

import math
from typing import Any

import lightgbm as lgb
import networkx as nx
import numpy as np
import pandas as pd
import sklearn
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from riskwarn.errors import RiskwarnError
from riskwarn.models.baselines import BASELINES
from riskwarn.models.boosting import LightGBMCount, LightGBMEscalation
from riskwarn.models.diffusion import GraphDiffusion
from riskwarn.models.ensemble import CalibratedEnsemble
from riskwarn.models.hawkes import GraphHawkes
from riskwarn.models.intervals import BandIntervals
from riskwarn.models.rates import ShrunkRateBaseline
from riskwarn.models.scorer import EscalationScorer

# 2: models resolve their columns from feature roles at fit (fitted ``columns_``).
# 3: the ensemble's weights mix by evidence and its probabilities carry a level shift.
# 4: LightGBM's time-decay weights (``half_life``, fitted ``half_life_``).
# 5: the graph models read neighbour aggregates from the row (no graph, no hops).
# 6: one count distribution: the count model's dispersion, the scorer's intervals.
STATE_FORMAT = 6
KNOWN_CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        *BASELINES.values(),
        ShrunkRateBaseline,
        LightGBMEscalation,
        LightGBMCount,
        GraphHawkes,
        GraphDiffusion,
        CalibratedEnsemble,
        EscalationScorer,
        BandIntervals,
        IsotonicRegression,
        StandardScaler,
        LogisticRegression,
    )
}
# Derived from other attributes on load (IsotonicRegression rebuilds its
# interpolation function from the thresholds in __setstate__).
_DERIVED = {"IsotonicRegression": {"f_"}}


def model_state(model: Any) -> tuple[dict, dict[str, str]]:
    """A fitted model as plain data.

    Parameters
    ----------
    model : estimator
        Any model of ``KNOWN_CLASSES``, fitted or not (nested ones included).

    Returns
    -------
    state : dict
        JSON-ready (``json.dumps`` works; floats round-trip exactly).
    boosters : dict of str to str
        LightGBM boosters in text format, by the key the state refers to them with.
    """
    boosters: dict[str, str] = {}
    state = {
        "format": STATE_FORMAT,
        "sklearn_version": sklearn.__version__,
        "model": _encode(model, boosters, "model"),
    }
    return state, boosters


def model_from_state(state: dict, boosters: dict[str, str], graph: nx.Graph | None = None) -> Any:
    """Rebuild a model from :func:`model_state`'s output.

    Parameters
    ----------
    state : dict
    boosters : dict of str to str
    graph : networkx.Graph or None
        Given to every model in the state that takes a ``graph`` parameter.
    """
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise RiskwarnError(
            f"not a riskwarn model state of format {STATE_FORMAT}: it was written by an "
            "incompatible version; retrain the model."
        )
    return _decode(state["model"], boosters, graph, state.get("sklearn_version", "unknown"))


def _encode(value: Any, boosters: dict[str, str], path: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUO":
            raise RiskwarnError(f"{path}: cannot store an array of dtype {value.dtype}.")
        return {
            "__ndarray__": [_encode(v, boosters, path) for v in value.ravel().tolist()],
            "dtype": str(value.dtype),
            "shape": list(value.shape),
        }
    if isinstance(value, pd.Series):
        return {
            "__series__": _encode(value.to_numpy(), boosters, path),
            "index": _encode(value.index.to_numpy(), boosters, path),
            "index_name": value.index.name,
            "name": value.name,
        }
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, boosters, f"{path}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, boosters, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise RiskwarnError(f"{path}: only dicts with string keys can be stored.")
        return {"__dict__": {k: _encode(v, boosters, f"{path}.{k}") for k, v in value.items()}}
    if isinstance(value, lgb.Booster):
        boosters[path] = value.model_to_string()
        return {"__booster__": path}
    name = type(value).__name__
    if KNOWN_CLASSES.get(name) is type(value):
        params = value.get_params(deep=False)
        params.pop("graph", None)
        skip = {*params, "graph", "_sklearn_version", *_DERIVED.get(name, ())}
        fitted = {k: v for k, v in vars(value).items() if k not in skip}
        return {
            "__estimator__": name,
            "params": _encode(params, boosters, f"{path}.params"),
            "fitted": _encode(fitted, boosters, path),
        }
    raise RiskwarnError(f"{path}: cannot store a {name} as plain data.")


def _decode(value: Any, boosters: dict[str, str], graph: nx.Graph | None, version: str) -> Any:
    if isinstance(value, list):
        return [_decode(v, boosters, graph, version) for v in value]
    if not isinstance(value, dict):
        return value
    if "__float__" in value:
        return float(value["__float__"])
    if "__ndarray__" in value:
        items = [_decode(v, boosters, graph, version) for v in value["__ndarray__"]]
        return np.array(items, dtype=np.dtype(value["dtype"])).reshape(value["shape"])
    if "__series__" in value:
        return pd.Series(
            _decode(value["__series__"], boosters, graph, version),
            index=pd.Index(
                _decode(value["index"], boosters, graph, version), name=value["index_name"]
            ),
            name=value["name"],
        )
    if "__tuple__" in value:
        return tuple(_decode(v, boosters, graph, version) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: _decode(v, boosters, graph, version) for k, v in value["__dict__"].items()}
    if "__booster__" in value:
        key = value["__booster__"]
        if key not in boosters:
            raise RiskwarnError(f"the model state refers to a LightGBM booster {key!r} it lacks.")
        return lgb.Booster(model_str=boosters[key])
    if "__estimator__" in value:
        cls = KNOWN_CLASSES.get(value["__estimator__"])
        if cls is None:
            raise RiskwarnError(
                f"the model state holds an unknown model class {value['__estimator__']!r}; "
                "only riskwarn's own models can be loaded."
            )
        params = _decode(value["params"], boosters, graph, version)
        if "graph" in cls().get_params(deep=False):
            params["graph"] = graph
        model = cls(**params)
        fitted = _decode(value["fitted"], boosters, graph, version)
        if fitted:
            # scikit-learn's own unpickling hook: restores derived attributes
            # (IsotonicRegression's interpolation) from the stored ones.
            # The version lets scikit-learn warn when the state comes from another one.
            extra = {"_sklearn_version": version} if cls.__module__.startswith("sklearn.") else {}
            model.__setstate__({**model.__dict__, **fitted, **extra})
        return model
    raise RiskwarnError("the model state has an entry riskwarn cannot read.")
