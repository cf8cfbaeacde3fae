"""The MAST scoring service: advisory scores with reasons, and the chronology.

``create_app`` builds the FastAPI application (``mast serve`` runs it under
uvicorn); ``ScoringEngine`` is the same scoring path without HTTP, used by
the benchmark's in-process floor and the consistency tests.
"""

from serving.app import ServingSettings, build_engine, create_app
from serving.chronology import LATE_AFTER_DAYS, chronology
from serving.live import LiveHistory
from serving.model import LoadedModel, NoChampionError, load_champion
from serving.schemas import ADVISORY_NOTICE, ReferralIn
from serving.scoring import EngineConfig, ScoringEngine, ServingError

__all__ = [
    "ADVISORY_NOTICE",
    "LATE_AFTER_DAYS",
    "EngineConfig",
    "LiveHistory",
    "LoadedModel",
    "NoChampionError",
    "ReferralIn",
    "ScoringEngine",
    "ServingError",
    "ServingSettings",
    "build_engine",
    "chronology",
    "create_app",
    "load_champion",
]
