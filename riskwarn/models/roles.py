"""What a model needs, stated as roles of features, resolved on the columns a city has.

A city may have one, two or three event tables and few optional columns, and its
config may choose other trailing windows than the defaults. A model therefore names
what it needs as *roles* ("recent event totals of every table present",
"precursors: whatever of collective petitions, open disputes and repeat petitions
exists"), and :func:`resolve` turns a role into the feature columns of this
dataset, by the names the feature plan gives them (``{table}_n_w{w}``,
``esc_n_decay_h{h}``, ``nbr_mean_{stream}_w{w}``, ...). A role that resolves to
nothing means the data cannot support the part of the model that needs it.

The short window is the smallest trailing window above one period (4 by default),
the long one the largest (52 by default), both read from the totals' columns
(``esc_n_w{w}``, which every dataset has, and ``pet_n_w{w}`` and the like).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from riskwarn.errors import RiskwarnError
from riskwarn.features.plan import CITY_LEVEL_PREFIX

EVENT_PREFIXES = ("pet", "dis", "inc")
"""Feature prefixes of the three event tables (petitions, disputes, incidents)."""

_ESC_WINDOW = re.compile(r"^esc_n_w(\d+)$")
_TOTAL_WINDOW = re.compile(r"^(?:pet|dis|inc|esc)_n_w(\d+)$")
_ESC_DECAY = re.compile(r"^esc_n_decay_h(\d+)$")
_NBR_ESC = re.compile(r"^nbr_esc_n_w(\d+)$")
_CITY_LEVEL = re.compile(rf"^{re.escape(CITY_LEVEL_PREFIX)}\d+_\d+$")
_NEIGHBOURHOOD = re.compile(r"^(?:nbr_mean|ring2_mean)_(?:pet|dis|inc|esc)_n_w\d+$")

ROLES = {
    "escalations_last": "escalations in the last period (esc_n_w1)",
    "escalations_long": "escalations over the longest window (esc_n_w52)",
    "escalation_kernel": "the grid's escalation history (esc_n_w1, esc_n_decay_h*)",
    "recent_totals": "recent events of any table (pet_n_w4, dis_n_w4, inc_n_w4)",
    "neighbour_totals": "the neighbours' recent events (nbr_mean_pet_n_w4, ...)",
    "neighbour_escalations": "escalations summed over the neighbours (nbr_esc_n_w1, nbr_esc_n_w13)",
    "neighbourhood": "the neighbours' mean events, one and two steps out (nbr_mean_*, ring2_mean_*)",
    "precursors": "precursors (pet_group_w4, dis_open, pet_repeat_w4)",
    "diffusion_inputs": "event counts to diffuse (esc_n_w*, pet_n_w4, dis_open, ...)",
    "grid_types": "grid types (grid_type_*)",
    "city_level": "the whole city's recent events against its long run (city_all_n_trend_4_52)",
}
"""Every role a model may ask for (see :func:`resolve`), with the default columns."""


def _windows(columns: set[str], pattern: re.Pattern = _ESC_WINDOW) -> list[int]:
    return sorted({int(m.group(1)) for c in columns if (m := pattern.match(c))})


def windows(columns: Iterable[str]) -> tuple[int | None, int | None, int | None]:
    """The last-period, short and long trailing windows of the event totals.

    Returns
    -------
    (last, short, long) : tuple of int or None
        ``last`` is the smallest window, ``short`` the smallest above 1 (else the
        largest), ``long`` the largest, over the ``{pet,dis,inc,esc}_n_w*`` columns
        (every table's totals share the windows); None when there are none.
    """
    ws = _windows(set(columns), _TOTAL_WINDOW)
    if not ws:
        return None, None, None
    above_one = [w for w in ws if w > 1]
    return ws[0], (above_one[0] if above_one else ws[-1]), ws[-1]


def resolve(role: str, columns: Iterable[str]) -> list[str]:
    """The feature columns that fill ``role`` in a frame with ``columns``.

    Parameters
    ----------
    role : str
        One of :data:`ROLES`:

        - ``escalations_last``: escalations in the last period (the smallest window);
        - ``escalations_long``: escalations over the longest window;
        - ``escalation_kernel``: the grid's own escalation history as a decaying
          basis (last period, then each exponentially decayed count);
        - ``recent_totals``: events of every table present over the short window;
        - ``neighbour_totals``: the neighbours' mean of the recent petitions and
          incidents (the escalations' where neither table exists);
        - ``neighbour_escalations``: escalations summed over the grid's neighbours,
          over each window the data has them for (shortest first);
        - ``neighbourhood``: the neighbours' mean events of each table over the
          short window, and the escalations' mean two steps out;
        - ``precursors``: collective and repeat petitions over the short window and
          open disputes, whichever the data has;
        - ``diffusion_inputs``: escalation counts over every window and the longest
          decay, recent totals, and the precursors and serious incidents there are;
        - ``grid_types``: the one-hot grid type columns;
        - ``city_level``: the city's level, its recent events against its long run
          (one column, the same for every grid of a date).
    columns : iterable of str
        The frame's columns (or the manifest's feature names).

    Returns
    -------
    list of str
        In a fixed order; empty when the data has nothing for the role.
    """
    cols = list(dict.fromkeys(str(c) for c in columns))
    present = set(cols)
    last, short, long_ = windows(present)
    decays = sorted(int(m.group(1)) for c in cols if (m := _ESC_DECAY.match(c)))

    def have(*names: str) -> list[str]:
        return [n for n in names if n in present]

    if role == "escalations_last":
        return have(f"esc_n_w{last}")
    if role == "escalations_long":
        return have(f"esc_n_w{long_}")
    if role == "escalation_kernel":
        return have(f"esc_n_w{last}", *(f"esc_n_decay_h{h}" for h in decays))
    if role == "recent_totals":
        return have(*(f"{p}_n_w{short}" for p in EVENT_PREFIXES))
    if role == "neighbour_totals":
        found = have(f"nbr_mean_pet_n_w{short}", f"nbr_mean_inc_n_w{short}")
        return found or have(f"nbr_mean_esc_n_w{short}")
    if role == "neighbour_escalations":
        return [f"nbr_esc_n_w{w}" for w in _windows(present, _NBR_ESC)]
    if role == "neighbourhood":
        return [c for c in cols if _NEIGHBOURHOOD.match(c)]
    if role == "precursors":
        return have(f"pet_group_w{short}", "dis_open", f"pet_repeat_w{short}")
    if role == "diffusion_inputs":
        return have(
            *(f"esc_n_w{w}" for w in _windows(present)),
            *(f"esc_n_decay_h{h}" for h in decays[-1:]),
            f"pet_n_w{short}",
            f"pet_group_w{short}",
            f"dis_n_w{short}",
            "dis_open",
            f"inc_n_w{short}",
            f"inc_sev2plus_w{short}",
        )
    if role == "grid_types":
        return sorted(c for c in cols if c.startswith("grid_type_"))
    if role == "city_level":
        return sorted(c for c in cols if _CITY_LEVEL.match(c))
    raise RiskwarnError(f"unknown feature role {role!r}; roles are {', '.join(ROLES)}.")


def columns_or_role(
    columns: tuple[str, ...] | None, role: str, frame_columns: Iterable[str], who: str
) -> list[str]:
    """Explicit ``columns`` as given, or the role's columns; a clear error if empty.

    An explicit tuple is taken literally (a missing column is then the caller's
    error, reported by the model); None means "what this data has for ``role``".
    """
    if columns is not None:
        if isinstance(columns, str):
            raise RiskwarnError(
                f"{who}: columns must be a tuple of column names, got the single string "
                f"{columns!r}; write ({columns!r},) instead."
            )
        return [str(c) for c in columns]
    found = resolve(role, frame_columns)
    if not found:
        raise RiskwarnError(f"{who} needs the feature column(s) of {ROLES[role]}, which X lacks.")
    return found
