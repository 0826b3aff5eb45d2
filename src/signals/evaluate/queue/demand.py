"""The time loop's demand: vehicles departing on each source edge per step, fluid or Poisson
per seed, drawn in fixed blocks of ``CHUNK_STEPS``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from signals.evaluate.queue.params import CHUNK_STEPS
from signals.evaluate.queue.topology import Topology


class DemandStream:
    """Vehicles departing on each source edge per step: fluid rates or Poisson draws per seed.

    With seeds, row r of the batch uses the stream of ``seeds[row_seed[r]]`` (common random
    numbers: every plan sees the same arrivals for a given seed). Same seed, same numbers.
    """

    def __init__(self, topo: Topology, seeds: Sequence[int] | None, row_seed: np.ndarray):
        self.topo = topo
        self.seeds = None if seeds is None else [int(s) for s in seeds]
        self.row_seed = np.asarray(row_seed, dtype=np.int64)
        self.rngs = None if seeds is None else [np.random.default_rng(s) for s in self.seeds]
        self._buf: np.ndarray | None = None
        self._buf_t0 = 0
        self._rates_t: np.ndarray | None = None

    def rates(self, t0: int, n: int) -> np.ndarray:
        """(n, Es) veh/s for steps t0 .. t0+n-1 (0 after the last bin)."""
        if self._rates_t is None:  # (n_bins + 1, Es): bins as rows, then a row of zeros
            r = self.topo.src_rates_vps
            self._rates_t = np.ascontiguousarray(np.vstack([r.T, np.zeros((1, r.shape[0]))]))
        nb = self._rates_t.shape[0] - 1
        bins = np.minimum((t0 + np.arange(n)) // self.topo.bin_steps, nb)
        return self._rates_t[bins]

    def chunk(self, t0: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Demand for steps [t0, t0+n): (slabs, row_index) with slabs (n_slabs, n, Es)."""
        lam = self.rates(t0, n)
        if self.rngs is None:
            return lam[None], np.zeros(len(self.row_seed), dtype=np.int64)
        return self._poisson(t0, n, lam), self.row_seed

    def _poisson(self, t0: int, n: int, lam: np.ndarray) -> np.ndarray:
        # draw whole CHUNK_STEPS blocks in order, so the stream never depends on n
        need_end = t0 + n
        while self._buf is None or self._buf_t0 + self._buf.shape[1] < need_end:
            b0 = 0 if self._buf is None else self._buf_t0 + self._buf.shape[1]
            block_lam = self.rates(b0, CHUNK_STEPS)
            block = np.stack([rng.poisson(block_lam).astype(float) for rng in self.rngs])
            if self._buf is None:
                self._buf, self._buf_t0 = block, b0
            else:
                keep = max(0, t0 - self._buf_t0)
                self._buf = np.concatenate([self._buf[:, keep:], block], axis=1)
                self._buf_t0 += keep
        i = t0 - self._buf_t0
        return self._buf[:, i : i + n]
