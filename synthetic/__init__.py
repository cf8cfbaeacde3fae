"""The calibrated synthetic multi-agency world of one English local authority.

``simulate(SimulationConfig(...))`` returns a :class:`World` whose ``tables``
follow the MAST data contract and whose ``truth`` holds the latent harm that
no feature or model may read.  ``calibration_report`` sets the world against
the published England figures in ``../shared/calibration/england.md``.
"""

from synthetic.calibration import calibration_report
from synthetic.config import SimulationConfig
from synthetic.world import World, simulate, small_world

__all__ = ["SimulationConfig", "calibration_report", "World", "simulate", "small_world"]
