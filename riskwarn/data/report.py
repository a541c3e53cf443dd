"""The validation report: per table, rows read = rows accepted + rows quarantined."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class TableReport:
    """Counts and reasons for one table."""

    table: str
    file: str
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    dropped_pii_columns: list[str] = field(default_factory=list)
    encoding: str | None = None
    """The text encoding a CSV file was read in (None for Parquet)."""
    mapped_columns: dict[str, str] = field(default_factory=dict)
    """Contract column → the city's column name, where ``[data.columns]`` mapped it."""

    @property
    def balanced(self) -> bool:
        """No row lost: read = accepted + quarantined."""
        return self.rows_read == self.rows_accepted + self.rows_quarantined

    def top_reasons(self, n: int = 5) -> list[tuple[str, int]]:
        return sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


@dataclass
class ValidationReport:
    """What reading a dataset found; serialisable with :meth:`to_dict`."""

    folder: str
    timezone: str
    data_end: str
    tables: dict[str, TableReport] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)
    grids_without_events: int = 0

    @property
    def rows_quarantined(self) -> int:
        return sum(t.rows_quarantined for t in self.tables.values())

    def to_dict(self) -> dict:
        out = asdict(self)
        for name, table in self.tables.items():
            out["tables"][name]["balanced"] = table.balanced
            out["tables"][name]["top_reasons"] = table.top_reasons()
        return out
