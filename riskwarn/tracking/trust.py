"""What a model artifact may contain before riskwarn loads it: its own files, no pickle.

A pickle runs code when it is loaded. riskwarn logs its models as JSON, LightGBM
text and a models-from-code pyfunc, so the files of a riskwarn model are known in
advance (:data:`ALLOWED`): anything else, a pickle of any protocol included, means
the model was not made by riskwarn (or was tampered with), and is refused unless the
user explicitly trusts it. The pyfunc's code file is run when MLflow loads the
model (Spark, ``mlflow models serve``), so it must be this riskwarn's own file, byte
for byte. The checks look at what is on disk, not at headers a file could fake.
"""

from __future__ import annotations

from pathlib import Path

import yaml

#: The files of a riskwarn model artifact (patterns relative to its folder).
ALLOWED = (
    "MLmodel",
    "conda.yaml",
    "python_env.yaml",
    "requirements.txt",
    "input_example.json",
    "serving_input_example.json",
    "registered_model_meta",
    "pyfunc_model.py",
    "artifacts/scorer/bundle.json",
    "artifacts/scorer/state.json",
    "artifacts/scorer/manifest.json",
    "artifacts/scorer/graph.json",
    "artifacts/scorer/boosters/index.json",
    "artifacts/scorer/boosters/booster_*.txt",
)
_CODE_LOADER = "mlflow.pyfunc.loaders.code_model"


def untrusted_files(folder: str | Path) -> list[str]:
    """Why the model artifact in ``folder`` is not one riskwarn made (empty: it is).

    Every file must match :data:`ALLOWED` (no other file, whatever its name or first
    bytes), ``pyfunc_model.py`` must be riskwarn's own, and ``MLmodel`` must name
    only the models-from-code pyfunc flavor (no pickled ``python_model``).
    """
    from fnmatch import fnmatchcase

    from riskwarn.tracking import pyfunc_model

    root = Path(folder)
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
        name = path.relative_to(root).as_posix()
        if path.is_symlink() or not any(fnmatchcase(name, pattern) for pattern in ALLOWED):
            found.append(f"{name}: not a file of a riskwarn model")
    code = root / "pyfunc_model.py"
    own = Path(pyfunc_model.__file__).read_bytes()
    if code.is_file() and code.read_bytes() != own:
        found.append("pyfunc_model.py: not this riskwarn's pyfunc code")
    found += _mlmodel_problems(root / "MLmodel")
    return found


def _mlmodel_problems(mlmodel: Path) -> list[str]:
    if not mlmodel.is_file():
        return ["MLmodel: missing"]
    try:
        meta = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError):
        return ["MLmodel: not readable YAML"]
    flavors = meta.get("flavors") or {}
    problems = [
        f"MLmodel: flavor {f!r} is not riskwarn's" for f in flavors if f != "python_function"
    ]
    pyfunc = flavors.get("python_function") or {}
    if pyfunc.get("python_model"):
        problems.append(f"MLmodel: python_model {pyfunc['python_model']} is a pickled object")
    if pyfunc.get("loader_module") != _CODE_LOADER:
        problems.append(f"MLmodel: loader {pyfunc.get('loader_module')!r} is not models-from-code")
    return problems
