"""``riskwarn inspect``: profile a raw export folder and write the proposed starter config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from riskwarn.atomic import write_text_atomic
from riskwarn.config import Config
from riskwarn.data.inspect import Inspection, inspect_folder
from riskwarn.errors import RiskwarnError


def inspect_files(
    data: str | Path,
    out: str | Path,
    config: Config | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> tuple[Inspection, Path]:
    """Inspect ``data`` (with ``config``'s encoding, sheets and time zone) and write the proposal.

    An existing ``out`` is never overwritten: the user may have edited it.
    """
    target = Path(out)
    if target.exists():
        raise RiskwarnError(
            f"{target} exists (perhaps already edited): pass --out with a new file name."
        )
    cfg = config or Config()
    found = inspect_folder(
        data,
        encoding=cfg.data.encoding,
        sheets=cfg.data.sheets,
        timezone=cfg.data.timezone,
        progress=progress,
    )
    return found, write_text_atomic(target, found.config_toml())
