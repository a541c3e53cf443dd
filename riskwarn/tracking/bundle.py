"""The trained scorer as a folder of plain files: JSON and LightGBM text, no pickle.

Layout::

    bundle.json     what it is: horizon, model, config, features, training span
    state.json      the fitted models' parameters (riskwarn.models.state)
    boosters/       LightGBM boosters in LightGBM's text format, with index.json
    manifest.json   the feature manifest (descriptions for reasons, vocabulary)
    graph.json      the grid graph the graph models were trained with

This folder is the artifact of the MLflow pyfunc; ``riskwarn score`` reads it with
:func:`load_bundle` and never runs code that came with a model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from riskwarn import __version__
from riskwarn.config import Config, config_from_dict, config_to_dict
from riskwarn.errors import RiskwarnError
from riskwarn.features.manifest import FeatureManifest
from riskwarn.models.scorer import EscalationScorer
from riskwarn.models.state import model_from_state, model_state

BUNDLE_FORMAT = 2
"""2: LightGBM samples features per node (``feature_fraction_bynode``) and the bundle
records the backtest summary for the model card."""


@dataclass
class ScorerBundle:
    """A trained scorer with what it needs to score new data."""

    scorer: EscalationScorer
    manifest: FeatureManifest
    config: Config
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def horizon(self) -> int:
        return int(self.scorer.horizon)


def _graph_json(graph: nx.Graph | None) -> dict:
    if graph is None:
        return {"nodes": None, "edges": []}
    return {
        "nodes": sorted(str(n) for n in graph.nodes),
        "edges": sorted(
            [str(a), str(b), float(d.get("weight", 1.0))] for a, b, d in graph.edges(data=True)
        ),
    }


def _graph_from_json(raw: dict) -> nx.Graph | None:
    if raw.get("nodes") is None:
        return None
    graph = nx.Graph()
    graph.add_nodes_from(raw["nodes"])
    graph.add_weighted_edges_from((a, b, float(w)) for a, b, w in raw["edges"])
    return graph


def _write_json(path: Path, value: Any) -> None:
    path.write_text(
        json.dumps(value, ensure_ascii=False, allow_nan=False, indent=1) + "\n", encoding="utf-8"
    )


def save_bundle(bundle: ScorerBundle, folder: str | Path) -> Path:
    """Write the bundle's files into ``folder`` (created; must be empty or absent)."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise RiskwarnError(f"{root} is not empty: a scorer bundle needs a folder of its own.")
    state, boosters = model_state(bundle.scorer)
    (root / "boosters").mkdir()
    index = {}
    for i, (key, text) in enumerate(sorted(boosters.items())):
        name = f"booster_{i}.txt"
        (root / "boosters" / name).write_text(text, encoding="utf-8")
        index[key] = name
    _write_json(root / "boosters" / "index.json", index)
    _write_json(root / "state.json", state)
    (root / "manifest.json").write_text(bundle.manifest.to_json() + "\n", encoding="utf-8")
    _write_json(root / "graph.json", _graph_json(bundle.scorer.graph))
    _write_json(
        root / "bundle.json",
        {
            "format": BUNDLE_FORMAT,
            "riskwarn_version": __version__,
            "horizon": int(bundle.scorer.horizon),
            "model": bundle.scorer.model,
            "feature_names": list(bundle.scorer.feature_names_in_),
            "config": config_to_dict(bundle.config),
            "info": bundle.info,
        },
    )
    return root


def load_bundle(folder: str | Path) -> ScorerBundle:
    """Read a bundle written by :func:`save_bundle`."""
    root = Path(folder)
    try:
        meta = json.loads((root / "bundle.json").read_text(encoding="utf-8"))
        state = json.loads((root / "state.json").read_text(encoding="utf-8"))
        index = json.loads((root / "boosters" / "index.json").read_text(encoding="utf-8"))
        boosters = {
            key: (root / "boosters" / Path(name).name).read_text(encoding="utf-8")
            for key, name in index.items()
        }
        manifest = FeatureManifest.from_json((root / "manifest.json").read_text(encoding="utf-8"))
        graph = _graph_from_json(json.loads((root / "graph.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RiskwarnError(
            f"{root} is not a complete riskwarn scorer bundle ({exc}); was the model logged "
            "by riskwarn train?"
        ) from exc
    if meta.get("format") != BUNDLE_FORMAT:
        raise RiskwarnError(
            f"the scorer bundle in {root} has format {meta.get('format')!r}; this riskwarn "
            f"reads format {BUNDLE_FORMAT}. Retrain the model."
        )
    scorer = model_from_state(state, boosters, graph)
    if not isinstance(scorer, EscalationScorer):
        raise RiskwarnError(f"the bundle in {root} does not hold an EscalationScorer.")
    config = config_from_dict(meta["config"], source=f"model bundle {root.name}")
    return ScorerBundle(scorer=scorer, manifest=manifest, config=config, info=meta.get("info", {}))
