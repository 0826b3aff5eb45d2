"""The single safety gate (docs/architecture.md, "Safety: nothing unsafe reaches a signal").

* :mod:`.config` -- the site's :class:`SafetyConfig` and the clearance formulas (ITE, MUTCD);
* :mod:`.expand` -- a plan or raw SUMO program expanded into the states it shows;
* :mod:`.rules` -- one function per rule over that expansion, and the rule table :data:`RULES`
  with severities (``unsafe`` always refused, ``guideline`` refused for generated plans);
* :mod:`.gate` -- :func:`validate`, :func:`assert_safe`, :func:`validate_file`, used by every
  path out: exports, ``evaluate --program``, ``v2x spat``, the closed loop;
* :mod:`.online` -- the same rules as vectorized per-step checks for the closed loop;
* :mod:`.monitor` -- an independent per-second conflict monitor the tests check the gate against.

Core package: no traci/libsumo import.
"""

from signals.safety.config import (
    SafetyConfig,
    ite_allred_s,
    ite_yellow_s,
    required_allred_s,
    required_yellow_s,
)
from signals.safety.gate import (
    UnsafePlanError,
    assert_safe,
    check_file,
    check_network_programs,
    refused,
    validate,
    validate_file,
    validate_network_programs,
    validate_program,
)
from signals.safety.geometry import geometry, link_width_m, min_yellow_s
from signals.safety.online import conflicting_green, illegal_transitions, state_codes
from signals.safety.rules import GUIDELINE, RULES, UNSAFE, Violation

__all__ = [
    "SafetyConfig",
    "ite_allred_s",
    "ite_yellow_s",
    "required_allred_s",
    "required_yellow_s",
    "UnsafePlanError",
    "assert_safe",
    "check_file",
    "check_network_programs",
    "validate_network_programs",
    "refused",
    "validate",
    "validate_file",
    "validate_program",
    "geometry",
    "link_width_m",
    "min_yellow_s",
    "conflicting_green",
    "illegal_transitions",
    "state_codes",
    "GUIDELINE",
    "RULES",
    "UNSAFE",
    "Violation",
]
