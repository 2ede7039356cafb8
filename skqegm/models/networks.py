"""The torch networks of the QEGM model: encoder, latents and decoder.

The generative path is ``z ~ N(0, I)`` (plus the noise of eq. 7) -> latent -> decoder.
A latent turns each ``z`` into a finite mixture over *codes* fed to the decoder:

- :class:`QuantumLatent`: ``z`` enters the variational circuit, and the codes are the
  ``2**n`` measurement outcomes (bitstrings as +/-1 vectors) weighted by their Born
  probabilities ``P(k | z, theta)`` (eq. 2);
- :class:`GaussianLatent`: the classical twin, whose single code is ``z`` itself.

The decoder maps a code to a diagonal Gaussian over the data, so the model's density is a
mixture of Gaussians whichever latent is plugged in, and the two latents are compared
with everything else equal.
"""

import numpy as np
import torch
from torch import nn

from ..quantum.simulator import z_sign_matrix

# Smallest decoder standard deviation, in units of the standardised data: keeps the
# likelihood bounded when a component sits on repeated values.
MIN_SCALE = 1e-3


def mlp(n_inputs, hidden_layer_sizes, n_outputs):
    """A ReLU multilayer perceptron ``n_inputs -> hidden... -> n_outputs``."""
    sizes = [n_inputs, *hidden_layer_sizes]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    layers.append(nn.Linear(sizes[-1], n_outputs))
    return nn.Sequential(*layers)


class GaussianHead(nn.Module):
    """An MLP whose output is a diagonal Gaussian: ``(mean, scale)``, each ``(..., n_outputs)``."""

    def __init__(self, n_inputs, hidden_layer_sizes, n_outputs):
        super().__init__()
        self.n_outputs = n_outputs
        self.net = mlp(n_inputs, hidden_layer_sizes, 2 * n_outputs)

    def forward(self, inputs):
        mean, raw_scale = self.net(inputs).chunk(2, dim=-1)
        return mean, nn.functional.softplus(raw_scale) + MIN_SCALE

    @torch.no_grad()
    def spread_means_(self, inputs):
        """Rescale the output layer so that the means over ``inputs`` have mean 0, std 1.

        A freshly initialised MLP gives nearly the same mean for every input, so the
        mixture starts as one bump and gradient descent tends to settle in a scale
        mixture centred on the data (wide and narrow components, no separate modes).
        Spreading the initial means like standardised data breaks that symmetry, the way
        k-means initialisation does for a Gaussian mixture.
        """
        mean = self(inputs)[0].reshape(-1, self.n_outputs)
        center, spread = mean.mean(dim=0), mean.std(dim=0).clamp_min(1e-6)
        last = self.net[-1]
        last.weight[: self.n_outputs] /= spread[:, None]
        last.bias[: self.n_outputs] = (last.bias[: self.n_outputs] - center) / spread


class QuantumLatent(nn.Module):
    """Codes from measuring the variational layer: ``2**n`` bitstrings, Born weights.

    Parameters
    ----------
    layer : QuantumLayer
        The variational layer, built on a fitted
        :class:`~skqegm.quantum.SamplerTransformer` (probabilities out).
    """

    def __init__(self, layer):
        super().__init__()
        self.layer = layer
        # Row k: +1 where bit i of outcome k is 0, else -1 (qubit 0 is bit 0, as in Qiskit).
        signs = z_sign_matrix(layer.transformer.n_qubits_)
        self.register_buffer("code_table", torch.as_tensor(signs, dtype=torch.float32))

    def weights(self, z):
        """Born probabilities ``P(k | z)``, shape ``(n_rows, 2**n)``."""
        return self.layer(z)

    def codes(self, z):
        """The outcome codes, shared by every row: shape ``(2**n, n_qubits)``."""
        return self.code_table

    def sample_codes(self, z, random_state):
        """One measured outcome per row (one shot on the layer's backend), as its code."""
        return self.code_table[self.layer.measure(z, random_state)]


class GaussianLatent(nn.Module):
    """The classical twin: the code is the Gaussian latent itself (one component per row)."""

    def weights(self, z):
        return z.new_ones(z.shape[0], 1)

    def codes(self, z):
        return z.unsqueeze(1)

    def sample_codes(self, z, random_state):
        return z


class GenerativeNetwork(nn.Module):
    """Encoder ``x -> q(z | x)``, a latent, and decoder ``code -> N(mean, scale^2)``.

    With a ``context`` (the features ``X`` of a conditional model, one row per data row)
    the encoder reads ``(x, context)`` and the decoder ``(code, context)``: a conditional
    VAE whose prior stays ``N(0, I)``, so the latent's mixture weights are shared and the
    components' means and scales follow the context.
    """

    def __init__(self, encoder, latent, decoder):
        super().__init__()
        self.encoder = encoder
        self.latent = latent
        self.decoder = decoder

    def encode(self, x, context=None):
        """``(mean, scale)`` of ``q(z | x)`` (or of ``q(z | x, context)``)."""
        return self.encoder(x if context is None else torch.cat([x, context], dim=-1))

    def mixture(self, z, context=None):
        """Per-row mixtures over the data: ``weights (B, K)``, ``mean, scale (K or B x K, d)``."""
        weights = self.latent.weights(z)
        mean, scale = self.decoder(with_context(self.latent.codes(z), context))
        return weights, mean, scale


def with_context(codes, context):
    """Decoder inputs for a mixture: ``codes`` (``(K, n)``, shared by every row, or
    ``(B, K, n)``) beside each row's ``context`` ``(B, p)``; unchanged without context."""
    if context is None:
        return codes
    if codes.ndim == 2:
        codes = codes.expand(context.shape[0], *codes.shape)
    context = context.unsqueeze(1).expand(-1, codes.shape[1], -1)
    return torch.cat([codes, context], dim=-1)


def take_rows(mixture, rows):
    """The per-row mixtures of ``rows`` (a slice) out of ``(weights, mean, scale)``."""
    weights, mean, scale = mixture
    if mean.ndim == 2:  # codes shared by every row
        return weights[rows], mean, scale
    return weights[rows], mean[rows], scale[rows]


def average_rows(mixture):
    """The mixture averaged over its rows: ``weights (J,)``, ``mean, scale (J, d)``.

    With shared codes (the quantum latent) the ``2**n`` components keep their codes and
    average their weights; with per-row codes every row is a component of weight 1/B.
    """
    weights, mean, scale = mixture
    if mean.ndim == 2:
        return weights.mean(dim=0), mean, scale
    return (weights / weights.shape[0]).reshape(-1), mean.flatten(0, 1), scale.flatten(0, 1)


def log_mixture_density(x, weights, mean, scale):
    """``log sum_k w_k N(x; mean_k, diag(scale_k^2))`` for each row of ``x`` ``(B, d)``.

    ``weights`` is ``(B, K)`` (per row) or ``(K,)`` (shared); ``mean`` and ``scale`` are
    ``(K, d)`` or ``(B, K, d)``. Zero weights (unobserved outcomes under shot noise) are
    clamped so that their gradient is zero rather than NaN.
    """
    z = (x.unsqueeze(-2) - mean) / scale
    log_components = -0.5 * (z * z).sum(-1) - torch.log(scale).sum(-1)
    log_components = log_components - 0.5 * x.shape[-1] * np.log(2.0 * np.pi)
    log_weights = torch.log(weights.clamp_min(1e-30))
    return torch.logsumexp(log_weights + log_components, dim=-1)


def gaussian_kl(mean, scale):
    """``KL(N(mean, diag(scale^2)) || N(0, I))`` per row."""
    return 0.5 * (mean * mean + scale * scale - 1.0).sum(-1) - torch.log(scale).sum(-1)
