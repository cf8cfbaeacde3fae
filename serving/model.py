"""Loading the champion model from the MLflow registry, once.

The service resolves the ``champion`` alias to a fixed version at start-up
and loads that version, so every response in a process's life is scored by
one model and says which.  No champion means no service: a scoring tool
that silently falls back to something else is worse than none.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class NoChampionError(RuntimeError):
    """The registry has no model under the alias the service needs."""


@dataclass
class LoadedModel:
    """The scorer the service uses and what governance needs to know about it."""

    scorer: Any
    name: str
    version: str
    alias: str
    run_id: str | None
    tags: dict[str, str] = field(default_factory=dict)
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def feature_names(self) -> list[str]:
        return list(self.scorer.feature_names)

    @property
    def policy(self) -> dict[str, Any]:
        return policy_dict(self.scorer.policy)

    @property
    def policy_version(self) -> str:
        return str(self.policy.get("version", "unknown"))

    @property
    def gate(self) -> dict[str, str]:
        """The version tags that carry the governance gate's verdict and any override."""
        return {
            k: str(v)
            for k, v in self.tags.items()
            if "gate" in k.lower() or k.startswith("governance") or k == "promoted_at"
        }


def policy_dict(policy: Any) -> dict[str, Any]:
    """The flag policy as plain JSON-able values, whatever class carries it."""
    if policy is None:
        return {}
    if dataclasses.is_dataclass(policy):
        raw = dataclasses.asdict(policy)
    elif hasattr(policy, "model_dump"):
        raw = policy.model_dump()
    elif isinstance(policy, dict):
        raw = dict(policy)
    else:
        raw = {k: v for k, v in vars(policy).items() if not k.startswith("_")}
    return {
        k: (v if isinstance(v, int | float | str | bool | None) else str(v)) for k, v in raw.items()
    }


def limit_threads() -> None:
    """Keep OpenMP (LightGBM) at one thread per worker.

    With two cores and a threadpool of requests, OpenMP threads per request
    only fight each other; one thread each gives lower tail latency.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # pragma: no cover - threadpoolctl ships with scikit-learn
        pass


def load_champion(tracking_uri: str, model_name: str, alias: str = "champion") -> LoadedModel:
    """Resolve ``alias`` to a model version and load it through MLflow.

    Raises
    ------
    NoChampionError
        When the model or the alias does not exist, with what to run to fix it.
    """
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    limit_threads()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        mv = client.get_model_version_by_alias(model_name, alias)
    except MlflowException as err:
        raise NoChampionError(
            f"No '{alias}' version of model {model_name!r} in the MLflow registry at "
            f"{tracking_uri}. Train one with `mast train`, pass the governance gate and "
            f"`mast promote` it before starting the service. ({err.message})"
        ) from err
    pyfunc = mlflow.pyfunc.load_model(f"models:/{model_name}/{mv.version}")
    python_model = pyfunc.unwrap_python_model()
    scorer = getattr(python_model, "scorer", None)
    if scorer is None:
        raise NoChampionError(
            f"Model {model_name!r} version {mv.version} has no scorer; it was not logged by "
            "MAST's training code."
        )
    return LoadedModel(
        scorer=scorer,
        name=model_name,
        version=str(mv.version),
        alias=alias,
        run_id=mv.run_id,
        tags=dict(mv.tags or {}),
    )
