"""The settings of one simulated local authority.

Every knob that changes what the world looks like lives here, validated by
pydantic, so a bad value is rejected with the parameter's name before any
work is done.  The numeric rates behind the mechanisms (hazards, referral
probabilities, durations) are internal constants in :mod:`synthetic.params`,
tuned once against ``../shared/calibration/england.md``; these settings are
the ones a user is expected to move.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, field_validator

from settings import DEFAULT_RANDOM_STATE


class SimulationConfig(BaseModel):
    """Parameters of :func:`synthetic.simulate`.

    Attributes
    ----------
    n_children
        Children aged 0-17 living in the local authority at any moment.  Births
        enter and 18-year-olds leave, so more distinct children than this
        appear over a run.
    years
        Length of the observed window, from ``start``.  The training pipeline
        needs about 10 (a 24-month label horizon between its three periods).
    start
        First day of the observed window (floored to the first of its month).
        Calibration is measured on ``[start, start + years)``.
    burn_in_years
        Years simulated before ``start`` so the first referrals of the window
        already have a history.  Their records are kept in the tables (they
        are the history a real extract would carry), dated before ``start``.
    random_state
        Seed of the single random generator; same seed, same tables.
    exposure_bias
        How much more often agencies see a family because of its deprivation
        and ethnicity, at equal latent risk.  Each family's agency-observation
        rates are multiplied by ``exp(exposure_bias * s)`` (renormalised to a
        mean of 1 over children), where ``s`` runs from +0.5 in the most
        deprived IMD decile to -0.5 in the least, plus 0.35 for Black and
        Mixed families and -0.2 for Asian families.  The default 0.8 makes the
        most deprived decile about 2.2 times as visible as the least, and Black
        or Mixed families about 1.3 times as visible as White ones.  ``0``
        switches the bias off: equal latent risk, equal exposure.
    serious_incident_multiplier
        Multiplies the serious-incident hazard.  Serious incidents are rare
        (about 4.5 per 100,000 children a year), so checking their profile on
        a mid-sized run needs many more of them.  Serious incidents do not
        feed back into the rest of the world, so the other tables are
        identical whatever this is.
    source_lean
        Multiplies the screeners' prior lean by referral source
        (``params.SOURCE_LEAN``: against family, friend or neighbour and
        anonymous referrals, as the national review describes).  0 switches
        the lean off, so the screeners judge a referral by what they see
        whoever sent it; the detection rates by source are unchanged.
    history_weight
        "Start again syndrome": how much the simulated screeners weigh the
        case's earlier referrals and plans (0 = each referral judged as if
        new, 1 = full weight).  The default 0.25 models history under-used.
    harm_rate_multiplier
        Multiplies the latent-harm hazard (for sensitivity runs).
    local_authority
        Name written to ``households.local_authority``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_children: int = Field(
        20_000, ge=200, le=20_000_000, description="Children aged 0-17 at any moment."
    )
    years: int = Field(5, ge=1, le=15, description="Years in the observed window.")
    start: dt.date = Field(dt.date(2015, 4, 1), description="First day of the observed window.")
    burn_in_years: int = Field(3, ge=0, le=10, description="Years simulated before start.")
    random_state: int = Field(DEFAULT_RANDOM_STATE, ge=0, le=2**63 - 1, description="Seed.")
    exposure_bias: float = Field(0.8, ge=0.0, le=3.0, description="Agency exposure bias strength.")
    serious_incident_multiplier: float = Field(
        1.0, gt=0.0, le=10_000.0, description="Multiplier on the serious-incident hazard."
    )
    history_weight: float = Field(0.25, ge=0.0, le=1.0, description="Screeners' use of history.")
    source_lean: float = Field(
        1.0, ge=0.0, le=3.0, description="Screeners' lean by referral source (0: none)."
    )
    harm_rate_multiplier: float = Field(1.0, gt=0.0, le=10.0, description="Latent-harm multiplier.")
    local_authority: str = Field("Synthetic Borough", min_length=1)

    @field_validator("start")
    @classmethod
    def _first_of_month(cls, value: dt.date) -> dt.date:
        if value.year < 1950 or value.year > 2100:
            raise ValueError(f"start must be between 1950 and 2100, got {value}")
        return value.replace(day=1)

    @property
    def window_start(self) -> dt.date:
        """First day of the observed window."""
        return self.start

    @property
    def window_end(self) -> dt.date:
        """First day after the observed window (the extract date)."""
        return self.start.replace(year=self.start.year + self.years)

    @property
    def span_start(self) -> dt.date:
        """First simulated day, ``burn_in_years`` before ``start``."""
        return self.start.replace(year=self.start.year - self.burn_in_years)
