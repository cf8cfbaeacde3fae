"""``metrics.json``: the machine-readable audit.

For every group column and value it holds ``n`` (children), and ``base_rate``,
``selection_rate``, ``tpr``, ``fpr``, ``fnr``, ``precision`` (and ``auc``
when a score is given), each as ``{"value", "ci_low", "ci_high"}``; missing
or undefined figures are ``null``, never NaN, so any JSON reader accepts it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from audit.fairness_audit import AuditResult
from audit.fairness_gate import GateVerdict


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalar
        return _clean(obj.item())
    return obj


def metrics_document(audit_result: AuditResult, verdict: GateVerdict | None = None) -> dict:
    """The audit (and the verdict, when given) as a JSON-safe dict."""
    doc = audit_result.to_dict()
    if verdict is not None:
        doc["gate"] = verdict.to_dict()
    return _clean(doc)  # to_dict is already clean; the verdict is cleaned here too


def write_texts(out_dir: str | os.PathLike, texts: dict[str, str]) -> list[Path]:
    """Write each ``{name: text}`` into ``out_dir`` atomically (temp file, then rename)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in texts.items():
        tmp = out / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / name)
        paths.append(out / name)
    return paths


def write_metrics_json(
    path: str | os.PathLike, audit_result: AuditResult, verdict: GateVerdict | None = None
) -> Path:
    """Write :func:`metrics_document` to ``path`` atomically (temp file, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(
        json.dumps(metrics_document(audit_result, verdict), indent=2, ensure_ascii=False),
        encoding="utf-8",
    )
    os.replace(tmp, path)
    return path
