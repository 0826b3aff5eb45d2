"""Locate SUMO's binaries and tools from the eclipse-sumo wheel, and run them.

No traci/libsumo import here: this only starts SUMO's command-line programs and scripts
(netgenerate, netconvert, duarouter, randomTrips.py, routeSampler.py, ...).
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path


class SumoToolError(RuntimeError):
    """A SUMO program exited non-zero; carries its command line and the tail of its output."""


@lru_cache(maxsize=1)
def sumo_home() -> Path:
    """SUMO_HOME: the environment variable if set and valid, else the eclipse-sumo wheel."""
    env = os.environ.get("SUMO_HOME")
    if env and (Path(env) / "bin").is_dir():
        return Path(env)
    try:
        import sumo  # the eclipse-sumo wheel; pure data, no SUMO_HOME needed
    except ImportError as exc:  # pragma: no cover - install problem
        raise SumoToolError(
            "SUMO not found: install the eclipse-sumo wheel (make install)"
        ) from exc
    return Path(sumo.SUMO_HOME)


def binary(name: str) -> str:
    """Absolute path of a SUMO binary such as ``sumo``, ``netconvert`` or ``duarouter``."""
    path = sumo_home() / "bin" / name
    if not path.exists():
        raise SumoToolError(f"SUMO binary {name!r} not found under {path.parent}")
    return str(path)


def tool(relpath: str) -> str:
    """Absolute path of a SUMO tool script, e.g. ``randomTrips.py`` or ``tlsCycleAdaptation.py``."""
    path = sumo_home() / "tools" / relpath
    if not path.exists():
        raise SumoToolError(f"SUMO tool {relpath!r} not found under {path.parent}")
    return str(path)


def sumo_env() -> dict[str, str]:
    """Environment for child processes: SUMO_HOME set so SUMO's tools find their siblings."""
    env = dict(os.environ)
    env["SUMO_HOME"] = str(sumo_home())
    return env


def run(
    cmd: list[str], *, cwd: str | os.PathLike | None = None, timeout_s: float | None = None
) -> str:
    """Run a SUMO program or tool; return its stdout+stderr, raise SumoToolError on failure.

    A ``.py`` first element is run with this interpreter so the tools see the same packages.
    """
    if cmd and str(cmd[0]).endswith(".py"):
        cmd = [sys.executable, *cmd]
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=sumo_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    out = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0:
        tail = "\n".join(out.strip().splitlines()[-15:])
        raise SumoToolError(f"{Path(str(cmd[0])).name} exited {proc.returncode}:\n{tail}")
    return out
