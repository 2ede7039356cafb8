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

from ..nn.modules import gaussian_kl, log_mixture_density
from ._networks import average_rows, take_rows

_EPS = 1e-6


def hybrid_loss(network, x, noise, prior_noise, thresholds, tail_freq, rec_weight, tail_weight,
                generator, context=None):
    """The loss on a batch, and its two terms ``(loss, L_rec, L_tail)`` as tensors.

    Parameters
    ----------
    network : GenerativeNetwork
        The encoder, latent and decoder (e.g. the ``network_`` of a fitted
        :class:`~skqegm.QEGMSampler`).
    x : tensor of shape (B, d)
        Standardised data.
    noise, prior_noise : tensor of shape (B, 1) and (B_prior, 1)
        Standard deviations of the eq. 7 noise, ``noise_scale * sqrt(r)``, for the encoded
        rows and for the prior draws that estimate the model's tail mass.
    thresholds, tail_freq : tensor of shape (2, d)
        Lower and upper tail thresholds, and the training frequency beyond each.
    rec_weight, tail_weight : float
        ``lambda_1`` and ``lambda_2`` of eq. 5.
    generator : torch.Generator
        Source of the encoder's reparametrised draws, the eq. 7 noise and the prior
        draws.
    context : tensor of shape (B, p) or None
        The features a conditional model reads with the encoded rows. The prior draws
        are paired with the same rows, in turn (draw ``j`` with row ``j % B``), so their
        tail mass averages over the features' distribution, and the decoder evaluates
        each (row, code) pair once for both terms.

    Returns
    -------
    loss : tensor of shape ()
        ``rec_weight * L_rec + tail_weight * L_tail``, differentiable with respect to
        the network's parameters.
    rec : tensor of shape ()
        ``L_rec``, the negative evidence lower bound averaged over the batch.
    tail : tensor of shape ()
        ``L_tail``, the Bernoulli KL divergence :func:`bernoulli_kl` of ``tail_freq``
        from the model's :func:`tail_masses`, averaged over sides and features.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skqegm import QEGMSampler
    >>> from skqegm.models.losses import hybrid_loss
    >>> X = np.random.default_rng(0).standard_normal((64, 1))
    >>> model = QEGMSampler(latent="gaussian", n_qubits=2, hidden_layer_sizes=(8,),
    ...                     max_epochs=1, early_stopping=False, random_state=0).fit(X)
    >>> x = torch.as_tensor(X[:16], dtype=torch.float32)
    >>> noise, prior_noise = torch.full((16, 1), 0.1), torch.full((32, 1), 0.1)
    >>> thresholds = torch.tensor([[-1.645], [1.645]])  # 5% tails of N(0, 1)
    >>> tail_freq = torch.tensor([[0.05], [0.05]])
    >>> def batch_loss(seed):
    ...     return hybrid_loss(model.network_, x, noise, prior_noise, thresholds, tail_freq,
    ...                        1.0, 2.0, torch.Generator().manual_seed(seed))
    >>> loss, rec, tail = batch_loss(0)
    >>> bool(torch.isclose(loss, rec + 2.0 * tail)), bool(tail >= 0)
    (True, True)
    >>> bool(loss == batch_loss(0)[0])  # the generator fixes every draw
    True
    >>> loss.backward()
    >>> all(p.grad is not None for p in model.network_.parameters())
    True
    """
    mean, scale = network.encode(x, context)
    z = mean + scale * _randn(mean.shape, generator, x.device)
    z = z + noise * _randn(z.shape, generator, x.device)
    prior = _randn((prior_noise.shape[0], z.shape[1]), generator, x.device)
    prior = prior + prior_noise * _randn(prior.shape, generator, x.device)
    # One pass through the latent for both sets of rows: one primitive call on a backend.
    n = x.shape[0]
    rows = None if context is None else torch.cat([torch.arange(n),
                                                   torch.arange(prior.shape[0]) % n])
    mixture = network.mixture(torch.cat([z, prior]), context, rows)
    log_lik = log_mixture_density(x, *take_rows(mixture, slice(0, n)))
    rec = (gaussian_kl(mean, scale) - log_lik).mean()
    model_tail = tail_masses(*average_rows(take_rows(mixture, slice(n, None))), thresholds)
    tail = bernoulli_kl(tail_freq, model_tail).mean()
    return rec_weight * rec + tail_weight * tail, rec, tail


def tail_masses(weights, mean, scale, thresholds):
    """Mixture probability below ``thresholds[0]`` and above ``thresholds[1]``, per feature.

    Parameters
    ----------
    weights : tensor of shape (K,)
        Mixture weights, summing to 1.
    mean, scale : tensor of shape (K, d)
        Means and standard deviations of the diagonal Gaussian components.
    thresholds : tensor of shape (2, d)
        Lower (row 0) and upper (row 1) threshold of each feature.

    Returns
    -------
    masses : tensor of shape (2, d)
        ``P(x_j < thresholds[0, j])`` (row 0) and ``P(x_j > thresholds[1, j])`` (row 1)
        under the mixture's marginal of each feature ``j``.

    Examples
    --------
    >>> import torch
    >>> from scipy.stats import norm
    >>> from skqegm.models.losses import tail_masses
    >>> weights = torch.tensor([0.5, 0.5])
    >>> mean, scale = torch.tensor([[-1.0], [1.0]]), torch.ones(2, 1)
    >>> masses = tail_masses(weights, mean, scale, torch.tensor([[-2.0], [2.0]]))
    >>> tuple(masses.shape), round(float(masses[0, 0]), 5), round(float(masses[1, 0]), 5)
    ((2, 1), 0.08, 0.08)
    >>> round(float(0.5 * norm.cdf(-1.0) + 0.5 * norm.cdf(-3.0)), 5)
    0.08
    """
    lower = torch.special.ndtr((thresholds[0] - mean) / scale)
    upper = torch.special.ndtr((mean - thresholds[1]) / scale)
    return torch.stack([weights @ lower, weights @ upper])


def bernoulli_kl(q, p):
    """``KL(Bernoulli(q) || Bernoulli(p))``, elementwise.

    Both probabilities are clamped to ``[1e-6, 1 - 1e-6]`` first, so the divergence is
    finite even where ``p`` or ``q`` is 0 or 1.

    Parameters
    ----------
    q : tensor
        Probabilities of the reference distribution (the empirical tail frequency).
    p : tensor
        Probabilities of the approximating distribution (the model's tail mass),
        broadcastable with ``q``.

    Returns
    -------
    kl : tensor
        ``q log(q / p) + (1 - q) log((1 - q) / (1 - p))``, >= 0 and zero where
        ``p == q``.

    Examples
    --------
    >>> import math
    >>> import torch
    >>> from skqegm.models.losses import bernoulli_kl
    >>> kl = bernoulli_kl(torch.tensor([0.05, 0.05]), torch.tensor([0.05, 0.1]))
    >>> [round(float(v), 5) for v in kl]
    [0.0, 0.01671]
    >>> round(0.05 * math.log(0.05 / 0.1) + 0.95 * math.log(0.95 / 0.9), 5)
    0.01671
    """
    p = p.clamp(_EPS, 1 - _EPS)
    q = q.clamp(_EPS, 1 - _EPS)
    return q * torch.log(q / p) + (1 - q) * torch.log((1 - q) / (1 - p))


def _randn(shape, generator, device):
    # Drawn on the CPU generator, then moved: the same draws on every device.
    return torch.randn(shape, generator=generator).to(device)
