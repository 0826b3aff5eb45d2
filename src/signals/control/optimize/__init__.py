"""OR-Tools signal-plan optimization (``signals plan optimize``).

* :mod:`signals.control.optimize.splits`: cycle and green splits per signal and time-of-day
  period, one CP-SAT model per signal and candidate cycle, a common cycle per coordination
  group;
* :mod:`signals.control.optimize.offsets`: offsets of signals sharing a cycle (the grid as a
  whole), one CP-SAT model over pairwise delay tables from cyclic flow profiles;
* :mod:`signals.control.optimize.bands`: green waves on corridors, MAXBAND and a MULTIBAND-
  style variant as one MILP (SCIP) over every corridor of a group, with lead/lag stage orders.

Core package: no traci/libsumo import.
"""

from signals.control.optimize.bands import BandConfig, CorridorBand, corridors
from signals.control.optimize.splits import (
    COMMON_CYCLE,
    OBJECTIVES,
    OFFSETS,
    Optimization,
    SignalResult,
    SplitConfig,
    coordination_groups,
    optimize,
    optimize_planset,
)

__all__ = [
    "COMMON_CYCLE",
    "OBJECTIVES",
    "OFFSETS",
    "BandConfig",
    "CorridorBand",
    "Optimization",
    "SignalResult",
    "SplitConfig",
    "coordination_groups",
    "corridors",
    "optimize",
    "optimize_planset",
]
