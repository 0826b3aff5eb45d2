"""signals: traffic signal optimizer for a connected-vehicle (V2X) pilot zone.

Importing this package never needs SUMO_HOME, traci or libsumo; SUMO lives behind
``signals.evaluate.sumo_run`` and the RL backends.
"""

from signals.errors import InputError

__all__ = ["InputError", "__version__"]
__version__ = "0.1.0"
