"""OR-Tools signal-plan optimization (``signals plan optimize``).

* :mod:`signals.control.optimize.splits`: cycle and green splits per signal and time-of-day
  period, one CP-SAT model per signal and candidate cycle, a common cycle per coordination
  group;
* :mod:`signals.control.optimize.offsets`: offsets of signals sharing a cycle (the grid as a
  whole), one CP-SAT model over pairwise delay tables from cyclic flow profiles.

Core package: no traci/libsumo import.
"""

from signals.control.optimize.splits import (
    COMMON_CYCLE,
    OBJECTIVES,
    SignalResult,
    SplitConfig,
    coordination_groups,
    optimize_planset,
)

__all__ = [
    "COMMON_CYCLE",
    "OBJECTIVES",
    "SignalResult",
    "SplitConfig",
    "coordination_groups",
    "optimize_planset",
]
