"""Building and training the networks, shared by the sampler and the tail-risk estimator.

Both estimators take their architecture and training settings from a
:class:`~skqegm.models.QEGMSampler` (its parameters, read but never changed: the
``config`` below); the tail-risk estimator adds a context, the features ``X`` that the
conditional model reads beside the data (see :class:`~skqegm.models._networks.GenerativeNetwork`).
"""

import math
import platform
import time
import warnings
from importlib import metadata

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ..quantum import QuantumLayer, QuantumRandomSource, SamplerTransformer
from ..utils._fitting import EarlyStopping
from .losses import hybrid_loss
from ..utils._nn import GaussianHead
from ._networks import GaussianLatent, GenerativeNetwork, QuantumLatent, with_context

#: Latent draws whose average defines a fitted density (see ``QEGMSampler.score_samples``).
DENSITY_DRAWS = 4096
# Early stopping: stop after ``patience`` epochs without a validation improvement of _TOL.
_TOL = 1e-4
_SEED_NAMES = ("torch", "circuit", "noise", "split", "density")
_PACKAGES = ("skqegm", "numpy", "scipy", "scikit-learn", "torch", "qiskit", "qiskit-aer",
             "qiskit-ibm-runtime")


def draw_seeds(random_state):
    """One 31-bit seed per source of randomness, all from ``random_state``."""
    rng = check_random_state(random_state)
    return {key: int(rng.randint(np.iinfo(np.int32).max)) for key in _SEED_NAMES}






def n_latent(config):
    """Dimension of ``z``: one angle per qubit, or ``2**n`` amplitudes."""
    if config.latent == "quantum" and config.encoding == "amplitude":
        return 2**config.n_qubits
    return config.n_qubits


def build_network(config, n_features, seed, context=None):
    """Encoder, latent and decoder for data of ``n_features`` columns (plus a context).

    ``context`` (a float32 tensor of training features, or None) sets the context width
    and helps spread the decoder's initial means (see ``GaussianHead.spread_means_``).
    """
    n_context = 0 if context is None else context.shape[1]
    if config.latent == "quantum":
        transformer = SamplerTransformer(
            n_layers=config.n_layers, encoding=config.encoding, backend=config.backend,
            shots=config.shots, random_state=seed,
        ).fit(np.ones((1, n_latent(config))))
        latent = QuantumLatent(QuantumLayer(transformer))
    else:
        latent = GaussianLatent()
    hidden = tuple(config.hidden_layer_sizes)
    network = GenerativeNetwork(
        encoder=GaussianHead(n_features + n_context, hidden, n_latent(config)),
        latent=latent,
        decoder=GaussianHead(config.n_qubits + n_context, hidden, n_features),
    )
    prior = torch.randn(DENSITY_DRAWS if context is None else 256, n_latent(config))
    rows = None if context is None else context[torch.randint(len(context), (len(prior),))]
    network.decoder.spread_means_(with_context(latent.codes(prior), rows))
    return network


def train_network(config, network, train, val, thresholds, tail_freq, noise, seed, owner,
                  patience):
    """Minimise the hybrid loss with Adam, with early stopping on the validation rows.

    Parameters
    ----------
    config : QEGMSampler
        Training settings (weights, epochs, batch size, learning rate, early stopping,
        verbosity).
    network : GenerativeNetwork
        Trained in place; left at the best validation epoch, in eval mode.
    train, val : tuple (x, context)
        Standardised data and context (or None) as float arrays.
    thresholds, tail_freq : ndarray of shape (2, d)
        Tail thresholds of the data and the training frequency beyond each.
    noise : NoiseSource
    seed : int
    owner : str
        The estimator's name, for the warning.
    patience : int
        Epochs without a validation improvement of 1e-4 before stopping.

    Returns
    -------
    loss_curve, validation_scores, n_iter : list, list or None, int
    """
    generator = torch.Generator().manual_seed(seed)
    x_train, c_train = (_tensor(a) for a in train)
    x_val, c_val = (_tensor(a) for a in val)
    thresholds, tail_freq = _tensor(thresholds), _tensor(tail_freq)
    weights = (config.rec_weight, config.tail_weight)
    batch = min(config.batch_size, len(x_train))
    n_batches = math.ceil(len(x_train) / batch)
    optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    # The validation loss reuses the same latent, noise and context draws at every epoch,
    # so that it changes only when the model does.
    val_seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    if len(x_val):
        val_noise = (noise.scales(len(x_val)), noise.scales(batch))
        val_context = (c_val, _prior_context(c_val, batch, generator))
    # The prior draws of a step estimate the tail mass averaged over the features, so a
    # conditional model pairs them with contexts drawn from the training rows.
    prior_context = _prior_context(c_train, n_batches * batch, generator)

    loss_curve, validation_scores = [], [] if config.early_stopping else None
    stopping, stop, n_iter = EarlyStopping(patience, _TOL), False, 0
    for epoch in range(1, config.max_epochs + 1):
        start = time.perf_counter()
        network.train()
        order = torch.randperm(len(x_train), generator=generator)
        scales = noise.scales(len(x_train) + n_batches * batch)
        prior_scales = scales[len(x_train):].reshape(n_batches, batch, 1)
        total = 0.0
        for i, rows in enumerate(order.split(batch)):
            loss, _, _ = hybrid_loss(
                network, x_train[rows], scales[rows], prior_scales[i], thresholds, tail_freq,
                *weights, generator, _take(c_train, rows),
                _take(prior_context, slice(i * batch, (i + 1) * batch)),
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        loss_curve.append(total / len(x_train))
        n_iter = epoch
        message = f"Epoch {epoch}/{config.max_epochs}: loss = {loss_curve[-1]:.5f}"
        if config.early_stopping:
            with torch.no_grad():
                network.eval()
                val_loss, _, _ = hybrid_loss(
                    network, x_val, *val_noise, thresholds, tail_freq, *weights,
                    torch.Generator().manual_seed(val_seed), *val_context,
                )
            score = -float(val_loss)
            validation_scores.append(score)
            message += f", validation score = {score:.5f}"
            stop = stopping.update(score, network)
        if config.verbose:
            print(f"{message} ({time.perf_counter() - start:.2f} s)", flush=True)
        if stop:
            if config.verbose:
                print(f"Validation score did not improve for {patience} epochs; "
                      f"keeping epoch {epoch - stopping.stale}.", flush=True)
            break
    else:
        if config.early_stopping:
            warnings.warn(
                f"{owner} reached max_epochs={config.max_epochs} while the validation "
                "score was still improving; consider raising max_epochs.",
                ConvergenceWarning, stacklevel=3,  # warn at the caller of fit
            )
    stopping.restore(network)
    network.eval()
    return loss_curve, validation_scores, n_iter


def _tensor(array):
    return None if array is None else torch.as_tensor(array, dtype=torch.float32)


def _take(context, rows):
    return None if context is None else context[rows]


def _prior_context(context, n_rows, generator):
    if context is None:
        return None
    return context[torch.randint(len(context), (n_rows,), generator=generator)]


def mixture_codes(network, noise, seed, n_draws=DENSITY_DRAWS):
    """The fitted density's components as decoder inputs: ``(log_weights (K,), codes (K, n))``.

    The latent's mixture averaged over ``n_draws`` prior draws (plus eq. 7 noise): for the
    quantum latent the ``2**n`` outcome codes with their averaged Born probabilities
    (outcomes never observed under shot noise dropped), for the twin the draws
    themselves, equally weighted.
    """
    rng = np.random.RandomState(seed)
    z = prior_draws(n_draws, network.encoder.n_outputs, noise, rng)
    with torch.no_grad():
        weights = network.latent.weights(z).mean(dim=0)
        codes = network.latent.codes(z)
    codes = codes.reshape(-1, codes.shape[-1])
    if len(codes) != len(weights):  # one code per draw
        weights = weights.new_full((len(codes),), 1.0 / len(codes))
    keep = weights > 0
    weights = weights[keep].double().numpy()
    return np.log(weights / weights.sum()), codes[keep]


def provenance(config, seeds, quantum_layer):
    """What a run needs to be reproduced: backend, shots, seeds, package versions."""
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    backend = config.backend
    return {
        "latent": config.latent,
        "backend": _backend_label(backend),
        "shots": config.shots,
        "noise": config.noise,
        "random_state": config.random_state if isinstance(config.random_state, int) else None,
        "seeds": dict(seeds),
        "circuit_seed": None if quantum_layer is None else quantum_layer.seed_,
        "versions": versions,
        "python": platform.python_version(),
    }




def _backend_label(backend):
    """A readable name: the string itself, a device's name, or a primitive's class."""
    if backend is None or isinstance(backend, str):
        return backend
    name = getattr(backend, "name", None)
    return name if isinstance(name, str) else type(backend).__name__


class NoiseSource:
    """Standard deviations ``noise_scale * sqrt(r)`` of the eq. 7 noise, one per row."""

    def __init__(self, config, seed):
        self.noise, self.noise_scale = config.noise, config.noise_scale
        if self.noise == "qrng":
            self._source = QuantumRandomSource(backend=config.backend, random_state=seed)
        else:
            self._source = np.random.default_rng(seed)

    def scales(self, n_rows):
        if self.noise is None or self.noise_scale == 0:
            return torch.zeros(n_rows, 1)
        r = self._source.random(n_rows)
        return torch.as_tensor(self.noise_scale * np.sqrt(r), dtype=torch.float32).reshape(-1, 1)


def prior_draws(n_rows, n_latent, noise, rng):
    """``z + eta`` with ``z ~ N(0, I)`` and ``eta`` the eq. 7 noise, as a float32 tensor."""
    z = torch.as_tensor(rng.standard_normal((n_rows, n_latent)), dtype=torch.float32)
    eta = torch.as_tensor(rng.standard_normal((n_rows, n_latent)), dtype=torch.float32)
    return z + noise.scales(n_rows) * eta
