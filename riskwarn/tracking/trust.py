"""What a model artifact may contain before riskwarn loads it: no pickle.

A pickle runs code when it is loaded. riskwarn logs its models as JSON, LightGBM
text and a models-from-code pyfunc, so a pickle in a model artifact means the model
was not made by riskwarn (or was tampered with); it is refused unless the user
explicitly allows it.
"""

from __future__ import annotations

from pathlib import Path

import yaml

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".cloudpickle", ".dill")
# Pickle protocols 2-5 start with the PROTO opcode and the protocol number.
_PICKLE_HEADERS = tuple(bytes([0x80, p]) for p in (2, 3, 4, 5))


def pickles_in(folder: str | Path) -> list[str]:
    """Why the model artifact in ``folder`` contains pickled objects (empty: it does not).

    Checks file names, the first bytes of every file, and the pyfunc flavor of the
    ``MLmodel`` file (a ``python_model`` entry is a cloudpickled Python object).
    """
    root = Path(folder)
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = str(path.relative_to(root))
        if path.suffix.lower() in PICKLE_SUFFIXES:
            found.append(f"{name}: a pickle file")
            continue
        with open(path, "rb") as fh:
            head = fh.read(2)
        if head in _PICKLE_HEADERS:
            found.append(f"{name}: starts like a pickle")
    mlmodel = root / "MLmodel"
    if mlmodel.is_file():
        try:
            meta = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            meta = {}
        pyfunc = (meta.get("flavors") or {}).get("python_function") or {}
        if pyfunc.get("python_model"):
            found.append(f"MLmodel: python_model {pyfunc['python_model']} is a pickled object")
        for flavor in meta.get("flavors") or {}:
            if flavor in ("sklearn", "pytorch", "keras", "h2o"):
                found.append(f"MLmodel: flavor {flavor!r} stores pickled objects")
    return found
