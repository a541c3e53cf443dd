"""The feature manifest: every feature's name, family, window and plain description.

Reason codes and reports read the descriptions, in English and Chinese, so that a
policy reader sees "collective petitions in the last 4 periods", not ``pet_group_w4``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import pandas as pd

FAMILIES = (
    "counts",
    "decay",
    "recency",
    "trend",
    "backlog",
    "share",
    "per_capita",
    "static",
    "calendar",
    "spatial",
    "graph",
    "coverage",
    "intervention",
)


@dataclass(frozen=True)
class FeatureInfo:
    """One manifest entry. ``window`` is in periods (None for static features)."""

    name: str
    family: str
    window: int | None
    description_en: str
    description_zh: str
    dtype: str = "float32"


@dataclass
class FeatureManifest:
    """Ordered manifest of the features a build produces."""

    features: list[FeatureInfo] = field(default_factory=list)
    freq: str = ""
    label_horizon: int = 0
    vocabulary: dict[str, list[str]] = field(default_factory=dict)

    def add(self, info: FeatureInfo) -> None:
        if info.family not in FAMILIES:
            raise ValueError(f"unknown feature family {info.family!r}")
        if any(f.name == info.name for f in self.features):
            raise ValueError(f"feature {info.name!r} defined twice")
        self.features.append(info)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, name: str) -> FeatureInfo:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(f) for f in self.features])

    def to_json(self) -> str:
        return json.dumps(
            {
                "freq": self.freq,
                "label_horizon": self.label_horizon,
                "vocabulary": self.vocabulary,
                "features": [asdict(f) for f in self.features],
            },
            ensure_ascii=False,
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> FeatureManifest:
        raw = json.loads(text)
        return cls(
            features=[FeatureInfo(**f) for f in raw["features"]],
            freq=raw.get("freq", ""),
            label_horizon=raw.get("label_horizon", 0),
            vocabulary=raw.get("vocabulary", {}),
        )
