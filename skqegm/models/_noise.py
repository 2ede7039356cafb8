"""The noise of eq. 7, ``z~ = z + eta`` with ``eta ~ N(0, noise_scale^2 r)``, and prior draws."""

import numpy as np
import torch

from ..quantum import QuantumRandomSource


class NoiseSource:
    """Standard deviations ``noise_scale * sqrt(r)`` of the eq. 7 noise, one per row.

    ``r`` is uniform on [0, 1], from a seeded PRNG or, with ``noise="qrng"``, from a
    :class:`~skqegm.quantum.QuantumRandomSource` on ``backend``, its jobs submitted by
    ``jobs`` (a fit's, to share its budget, Batch and records).
    """

    def __init__(self, noise, noise_scale, backend, seed, jobs=None):
        self.noise, self.noise_scale = noise, noise_scale
        if noise == "qrng":
            self._source = QuantumRandomSource(backend=backend, random_state=seed, jobs=jobs)
        else:
            self._source = np.random.default_rng(seed)

    def scales(self, n_rows):
        """A float32 tensor of shape (n_rows, 1)."""
        if self.noise is None or self.noise_scale == 0:
            return torch.zeros(n_rows, 1)
        r = self._source.random(n_rows)
        return torch.as_tensor(self.noise_scale * np.sqrt(r), dtype=torch.float32).reshape(-1, 1)


def prior_draws(n_rows, n_latent, noise, rng):
    """``z + eta`` with ``z ~ N(0, I)`` and ``eta`` the eq. 7 noise, as a float32 tensor."""
    z = torch.as_tensor(rng.standard_normal((n_rows, n_latent)), dtype=torch.float32)
    eta = torch.as_tensor(rng.standard_normal((n_rows, n_latent)), dtype=torch.float32)
    return z + noise.scales(n_rows) * eta
