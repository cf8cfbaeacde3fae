"""The feature catalogue, generated from the definitions the SQL is built from.

The scoring service turns a model's reasons into words through
:func:`catalogue`; the board reads the Markdown written by
:func:`write_catalogue`.  Neither is kept by hand.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from features.definitions import FEATURE_SPECS, FeatureSpec


def catalogue() -> list[FeatureSpec]:
    """Every feature in ``X`` column order, with its definition and ``describe``."""
    return list(FEATURE_SPECS)


def catalogue_markdown() -> str:
    lines = [
        "# MAST feature catalogue",
        "",
        "Generated from `features/definitions.py` by `mast features --catalogue`; do not edit.",
        "Every feature is computed as of the referral's `received_at` from records "
        "*recorded* strictly before it.",
        "",
        "| feature | definition | source agency | window | subject | family |",
        "|---|---|---|---|---|---|",
    ]
    for s in FEATURE_SPECS:
        lines.append(
            f"| `{s.name}` | {s.definition} | {s.agency} | {s.window} | {s.subject} | {s.family} |"
        )
    return "\n".join(lines) + "\n"


def catalogue_json() -> str:
    return json.dumps([s.as_dict() for s in FEATURE_SPECS], indent=2)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_catalogue(path: str | Path) -> list[Path]:
    """Write the catalogue atomically.

    A ``.json`` path gets JSON, a ``.md`` path Markdown; any other suffix (or
    none) gets both, as ``<path>.md`` and ``<path>.json``.
    """
    path = Path(path)
    if path.suffix == ".json":
        _atomic_write(path, catalogue_json())
        return [path]
    if path.suffix == ".md":
        _atomic_write(path, catalogue_markdown())
        return [path]
    md, js = path.with_suffix(path.suffix + ".md"), path.with_suffix(path.suffix + ".json")
    _atomic_write(md, catalogue_markdown())
    _atomic_write(js, catalogue_json())
    return [md, js]
