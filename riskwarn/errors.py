"""Errors that reach the user as a one-paragraph message and exit code 2."""

from __future__ import annotations


class RiskwarnError(Exception):
    """Bad input that the user can fix; the CLI prints it and exits with code 2."""


class ConfigError(RiskwarnError):
    """An experiment config that cannot be used as written."""


class DataContractError(RiskwarnError):
    """A structural problem with an input dataset: the run stops.

    Parameters
    ----------
    problem : str
        What is wrong, in one sentence.
    file : str or None
        The file concerned (as the user named it).
    column : str or None
        The column concerned.
    fix : str
        What the user can do about it.
    """

    def __init__(
        self, problem: str, *, file: str | None = None, column: str | None = None, fix: str
    ) -> None:
        self.problem = problem
        self.file = file
        self.column = column
        self.fix = fix
        where = []
        if file:
            where.append(f"file {file}")
        if column:
            where.append(f"column '{column}'")
        prefix = f"[{', '.join(where)}] " if where else ""
        super().__init__(f"{prefix}{problem} Fix: {fix}")
