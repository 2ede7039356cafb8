"""The hybrid loss of eq. 5: ``rec_weight * L_rec + tail_weight * L_tail``.

- ``L_rec`` is the negative evidence lower bound of the VAE-style model: the expected
  negative log-likelihood of ``x`` under the decoder's mixture given the encoded ``z``,
  plus ``KL(q(z | x) || N(0, I))``. With one component of fixed unit variance its first
  term is the paper's ``||x - x_hat||^2 / 2`` up to a constant; learning the mixture and its
  scales is what gives a normalised density.
- ``L_tail`` compares, feature by feature and on both sides, the probability that the
  model puts beyond the training data's tail thresholds with the empirical tail
  frequency: the Bernoulli KL divergence ``KL(q || p)``. It penalises underestimated (and
  overestimated) rare-region probability, and it is zero when the model's tail mass is
  right, so it does not pull the maximum-likelihood fit away from the data.
"""

import torch

from ..utils._nn import gaussian_kl, log_mixture_density
from ._networks import average_rows, take_rows

_EPS = 1e-6


def hybrid_loss(network, x, noise, prior_noise, thresholds, tail_freq, rec_weight, tail_weight,
                generator, context=None, prior_context=None):
    """The loss on a batch, and its two terms ``(loss, L_rec, L_tail)`` as tensors.

    Parameters
    ----------
    network : GenerativeNetwork
    x : tensor of shape (B, d)
        Standardised data.
    noise, prior_noise : tensor of shape (B, 1) and (B_prior, 1)
        Standard deviations of the eq. 7 noise, ``noise_scale * sqrt(r)``, for the encoded
        rows and for the prior draws that estimate the model's tail mass.
    thresholds, tail_freq : tensor of shape (2, d)
        Lower and upper tail thresholds, and the training frequency beyond each.
    rec_weight, tail_weight : float
    generator : torch.Generator
    context, prior_context : tensor of shape (B, p) and (B_prior, p) or None
        The features a conditional model reads with the encoded rows and with the prior
        draws (whose tail mass then averages over the features' distribution).
    """
    mean, scale = network.encode(x, context)
    z = mean + scale * _randn(mean.shape, generator)
    z = z + noise * _randn(z.shape, generator)
    prior = _randn((prior_noise.shape[0], z.shape[1]), generator)
    prior = prior + prior_noise * _randn(prior.shape, generator)
    # One pass through the latent for both sets of rows: one primitive call on a backend.
    contexts = None if context is None else torch.cat([context, prior_context])
    mixture = network.mixture(torch.cat([z, prior]), contexts)
    n = x.shape[0]
    log_lik = log_mixture_density(x, *take_rows(mixture, slice(0, n)))
    rec = (gaussian_kl(mean, scale) - log_lik).mean()
    model_tail = tail_masses(*average_rows(take_rows(mixture, slice(n, None))), thresholds)
    tail = bernoulli_kl(tail_freq, model_tail).mean()
    return rec_weight * rec + tail_weight * tail, rec, tail


def tail_masses(weights, mean, scale, thresholds):
    """Mixture probability below ``thresholds[0]`` and above ``thresholds[1]``, per feature."""
    lower = torch.special.ndtr((thresholds[0] - mean) / scale)
    upper = torch.special.ndtr((mean - thresholds[1]) / scale)
    return torch.stack([weights @ lower, weights @ upper])


def bernoulli_kl(q, p):
    """``KL(Bernoulli(q) || Bernoulli(p))``, elementwise."""
    p = p.clamp(_EPS, 1 - _EPS)
    q = q.clamp(_EPS, 1 - _EPS)
    return q * torch.log(q / p) + (1 - q) * torch.log((1 - q) / (1 - p))


def _randn(shape, generator):
    return torch.randn(shape, generator=generator)
