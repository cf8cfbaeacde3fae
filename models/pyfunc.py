"""The MLflow pyfunc that carries a fitted :class:`LightGBMScorer`.

``predict`` on a feature frame returns one row per child with the calibrated
probability, the 1–20 score, the child-level flag and the top contributing
features as a JSON string.  The scoring service does not go through
``predict``: it unwraps the python model and calls the scorer in-process
(``loaded.unwrap_python_model().scorer``), which avoids pandas schema
enforcement on every request.
"""

from __future__ import annotations

import json
from importlib.metadata import version

import mlflow
import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema

from models.estimators import LightGBMScorer

OUTPUT_COLUMNS = ("probability", "score", "flag", "top_features")

# Pinned as in pyproject.toml so a loaded model reproduces its scores.
_REQUIREMENTS = ("numpy", "pandas", "scikit-learn", "lightgbm", "shap", "mlflow", "pyarrow")


def top_features(contrib: pd.DataFrame, X: pd.DataFrame | None, k: int = 3) -> list[str]:
    """The ``k`` features with the largest absolute contribution per row, as JSON."""
    values = contrib.to_numpy()
    names = np.asarray(contrib.columns)
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]
    out = []
    for i in range(values.shape[0]):
        items = []
        for j in order[i]:
            item = {"feature": str(names[j]), "contribution": round(float(values[i, j]), 6)}
            if X is not None:
                v = X.iloc[i][names[j]]
                item["value"] = None if pd.isna(v) else float(v)
            items.append(item)
        out.append(json.dumps(items))
    return out


class MastPyfunc(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper; ``.scorer`` is the in-process API the service uses."""

    def __init__(self, scorer: LightGBMScorer, top_k: int = 3):
        self.scorer = scorer
        self.top_k = int(top_k)

    def load_context(self, context) -> None:
        """Build the TreeExplainer once, when the model is loaded."""
        self.scorer.warm()

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        X = pd.DataFrame(model_input)
        frame = self.scorer.predict_frame(X)
        contrib, _ = self.scorer.contributions(X)
        frame["top_features"] = top_features(contrib, X[self.scorer.feature_names], self.top_k)
        return frame.reset_index(drop=True)


def signature_for(feature_names: list[str]) -> ModelSignature:
    """The explicit input/output schema: every feature a double (nullable)."""
    inputs = Schema([ColSpec("double", name, required=True) for name in feature_names])
    outputs = Schema(
        [
            ColSpec("double", "probability"),
            ColSpec("long", "score"),
            ColSpec("long", "flag"),
            ColSpec("string", "top_features"),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)


def pip_requirements() -> list[str]:
    """The exact versions installed now, so a logged model reloads with the libraries it was trained with."""
    return [f"{name}=={version(name)}" for name in _REQUIREMENTS]


def log_scorer(
    scorer: LightGBMScorer,
    input_example: pd.DataFrame,
    name: str = "model",
    registered_model_name: str | None = None,
    top_k: int = 3,
):
    """Log the scorer as a pyfunc in the active run; returns MLflow's ModelInfo.

    Requirements are given explicitly (MLflow's inference would import and
    run the model in a subprocess, which is slow and can guess wrong).
    """
    example = input_example[scorer.feature_names].astype(float).reset_index(drop=True)
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=MastPyfunc(scorer, top_k=top_k),
        signature=signature_for(scorer.feature_names),
        input_example=example,
        pip_requirements=pip_requirements(),
        registered_model_name=registered_model_name,
    )
