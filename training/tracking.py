"""MLflow set-up, the model registry, promotion and the list of versions.

Local tracking is ``sqlite:///mlflow/mlflow.db`` by default; any tracking
URI works.  For a local SQLite store the artifacts are kept beside the
database (``mlflow/artifacts``), so the folder is self-contained and the
MLflow UI started with ``mlflow ui --backend-store-uri sqlite:///mlflow/mlflow.db``
finds everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from models import MODEL_NAME

EXPERIMENT_NAME = "mast-referral-screening"
CANDIDATE = "candidate"
CHAMPION = "champion"
GATE_PASS = "pass"


class PromotionRefused(RuntimeError):
    """Promotion needs a passed gate or a recorded governance override."""


def _sqlite_dir(uri: str) -> Path | None:
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :]).resolve().parent
    return None


def setup_tracking(tracking_uri: str, experiment: str = EXPERIMENT_NAME) -> str:
    """Point MLflow at ``tracking_uri`` and return the experiment id (created if needed)."""
    local = _sqlite_dir(tracking_uri)
    if local is not None:
        local.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    location = (local / "artifacts").as_uri() if local is not None else None
    return client.create_experiment(experiment, artifact_location=location)


def client_for(tracking_uri: str) -> MlflowClient:
    """A client whose tracking and registry are both ``tracking_uri``: a local SQLite store holds both, and a split would register models where nobody looks."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def tag_version(client: MlflowClient, version: str, tags: dict[str, str], name: str = MODEL_NAME):
    """Set ``tags`` on one registered version; values become text because MLflow tags are text."""
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, str(value))


def promote(
    version: str | int,
    tracking_uri: str,
    override_by: str | None = None,
    reason: str | None = None,
    name: str = MODEL_NAME,
) -> dict[str, str]:
    """Move the ``champion`` alias to ``version`` if governance allows it.

    Allowed when the version's ``gate_verdict`` tag is ``pass``, or when a
    governance override names who approved it and why; the override is
    recorded as tags on the version before the alias moves.

    Raises
    ------
    PromotionRefused
        With the gate's reasons, when neither condition holds.
    ValueError
        When only one of ``override_by`` and ``reason`` is given, or the
        version does not exist.
    """
    client = client_for(tracking_uri)
    version = str(version)
    try:
        mv = client.get_model_version(name, version)
    except MlflowException as err:
        raise ValueError(f"VERSION: model {name!r} has no version {version}") from err
    tags = dict(mv.tags or {})
    verdict = tags.get("gate_verdict")
    if verdict is None:  # a version tagged by the audit package alone
        verdict = {"true": GATE_PASS, "false": "fail"}.get(tags.get("mast.gate.passed"), "not run")
    override_by = (override_by or "").strip()
    reason = (reason or "").strip()
    if bool(override_by) != bool(reason):
        raise ValueError("--override-by and --reason must be given together, both non-empty")
    record = {"gate_verdict": verdict}
    if verdict != GATE_PASS:
        if not override_by:
            raise PromotionRefused(_refusal(version, verdict, tags.get("gate_reasons", "")))
        record.update(
            governance_override_by=override_by,
            governance_override_reason=reason,
            governance_override_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        tag_version(client, version, {k: v for k, v in record.items() if k != "gate_verdict"}, name)
    tag_version(
        client, version, {"promoted_at": datetime.now(UTC).isoformat(timespec="seconds")}, name
    )
    client.set_registered_model_alias(name, CHAMPION, version)
    return record


def _refusal(version: str, verdict: str, reasons: str) -> str:
    """Why promotion is refused, in words: the gate's verdict and its reasons as sentences."""
    from audit.fairness_gate import reason_sentences

    said = {"fail": "failed the governance gate", "not run": "has no governance gate verdict"}
    sentences = reason_sentences(reasons.split("; ")) if reasons else []
    why = " ".join(sentences) if sentences else "No reason was recorded."
    return (
        f"Version {version} {said.get(verdict, f'did not pass the governance gate ({verdict})')}. "
        f"{why} Promotion needs a governance override: --override-by NAME --reason TEXT."
    )


@dataclass(frozen=True)
class VersionRow:
    """One registered version as ``mast models`` lists it, gate verdict and override beside it."""

    version: str
    aliases: tuple[str, ...]
    run_id: str | None
    created: str
    gate_verdict: str
    gate_reasons: str
    override_by: str
    label: str
    policy_version: str
    test_auc: str


def list_versions(tracking_uri: str, name: str = MODEL_NAME) -> list[VersionRow]:
    """Every registered version, newest first, with aliases and gate results."""
    client = client_for(tracking_uri)
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return []
    aliases: dict[str, list[str]] = {}
    for alias, v in (model.aliases or {}).items():
        aliases.setdefault(str(v), []).append(alias)
    rows = []
    for mv in client.search_model_versions(f"name='{name}'"):
        t = dict(mv.tags or {})
        rows.append(
            VersionRow(
                version=str(mv.version),
                aliases=tuple(sorted(aliases.get(str(mv.version), []))),
                run_id=mv.run_id,
                created=datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).strftime(
                    "%Y-%m-%d %H:%M"
                ),
                gate_verdict=t.get("gate_verdict", "not run"),
                gate_reasons=t.get("gate_reasons", ""),
                override_by=t.get("governance_override_by", ""),
                label=t.get("label", ""),
                policy_version=t.get("policy_version", ""),
                test_auc=t.get("test_auc_proxy", ""),
            )
        )
    return sorted(rows, key=lambda r: int(r.version), reverse=True)
