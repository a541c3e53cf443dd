"""``riskwarn promote``: move the champion alias by hand."""

from __future__ import annotations

from riskwarn.config import Config


def promote_version(version: str, config: Config, *, tracking_uri: str | None = None):
    """Move the ``champion`` alias of ``[train] registered_name`` to ``version``."""
    from riskwarn.tracking.registry import promote
    from riskwarn.tracking.store import connect

    connect(tracking_uri)
    return promote(config.train.registered_name, version)
