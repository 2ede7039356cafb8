"""The noise of eq. 7, ``z~ = z + eta`` with ``eta ~ N(0, noise_scale^2 r)``, and prior draws."""

import numpy as np
import torch
from scipy.stats import norm, qmc

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


def stratified_prior_draws(n_rows, n_latent, noise, rng):
    """Draws of :func:`prior_draws`' distribution, spread evenly: ``sqrt(1 + s^2) z``.

    Given its row's noise scale ``s``, ``z + s eta`` is ``N(0, (1 + s^2) I)``; here ``z``
    comes from a scrambled Sobol sequence (``n_rows`` a power of 2 keeps its balance)
    instead of independent draws. For a latent whose mixture components are the draws
    themselves (the twin), this cut the Monte Carlo error of a fitted 99% quantile from
    6% to 1% at 256 draws (median over 10 draw sets, against 131,072 draws).
    """
    sobol = qmc.Sobol(n_latent, scramble=True, seed=rng.randint(2**31))
    u = sobol.random(n_rows)
    # The open interval: a point at 0 or 1 would be an infinite code.
    tiny = np.finfo(np.float64).tiny
    z = norm.ppf(np.clip(u, tiny, 1 - np.finfo(np.float64).eps))
    scale = torch.sqrt(1 + noise.scales(n_rows).double() ** 2).numpy()
    return torch.as_tensor(z * scale, dtype=torch.float32)
