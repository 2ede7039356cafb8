"""VAESampler: the standard Gaussian-latent variational autoencoder baseline."""

from numbers import Integral

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted, validate_data

from ..nn import BaseTorchEstimator
from ..nn.modules import GaussianHead, gaussian_kl, gaussian_mixture_logpdf
from ..utils._fit_params import fit_param
from ..utils._memory import check_memory
from ..utils._mixins import LogDensityScoreMixin
from ..utils._validation import IntervalNotBool
from ._base import BaseDeepSampler


class VAESampler(LogDensityScoreMixin, BaseDeepSampler):
    """Variational autoencoder (Kingma and Welling) with a Gaussian latent and decoder.

    The paper's VAE baseline: an encoder ``q(z | x) = N(mu(x), diag s(x)^2)``, a prior
    ``z ~ N(0, I)`` and a decoder ``p(x | z) = N(m(z), diag sigma(z)^2)``, trained by
    maximising the evidence lower bound with Adam on standardised data. Unlike
    :class:`~skqegm.QEGMSampler`'s classical twin it has no tail loss, no eq. 7 noise and
    a standard initialisation: it is the baseline a practitioner would reach for.

    Parameters
    ----------
    latent_dim : int, default=4
        Dimension of ``z`` (4 matches the default QEGM's 4 qubits).
    hidden_layer_sizes : tuple of int, default=(64, 64)
        Hidden layers of the encoder and of the decoder (ReLU MLPs).
    n_density_draws : int, default=4096
        Prior draws that define :meth:`score_samples` (see there).
    max_epochs : int, default=200
    batch_size : int, default=256
    learning_rate : float, default=1e-3
        Adam's step size, in (0, 1000].
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows, stop when their negative ELBO has
        not improved by ``tol`` for ``n_iter_no_change`` epochs, and keep the best epoch.
    validation_fraction : float, default=0.15
        In (0, 1).
    n_iter_no_change : int, default=10
        Epochs without improvement before early stopping ends training.
    tol : float, default=1e-4
        The smallest improvement of the validation score that counts.
    callbacks : list of Callback or None, default=None
        Run after the built-in progress report and early stopping; see
        :class:`~skqegm.nn.Callback`.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, training and the density's prior draws, and the draws of
        :meth:`sample` when it gets no ``random_state`` of its own.
    verbose : int, default=0
        ``>= 1`` prints the loss of every epoch.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where the training epochs run; ``"auto"`` is CUDA when torch sees a GPU, else the
        CPU; ``"cuda"`` without one is refused at fit. Each batch moves to the device
        as it is used, and the fitted model is kept on the CPU, so it predicts, samples
        and pickles on any machine.

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Defined when ``X`` has string column names.
    network_ : torch.nn.ModuleDict
        The trained ``encoder`` and ``decoder``.
    loss_curve_ : list of float
        Mean negative ELBO per epoch (per row, standardised units).
    validation_scores_ : list of float or None
        Minus the validation negative ELBO per epoch; ``None`` without early stopping.
    n_iter_ : int
        Epochs run.

    Examples
    --------
    >>> from skqegm.baselines import VAESampler
    >>> from skqegm.datasets import make_tail_mixture
    >>> X, _ = make_tail_mixture(1000, random_state=0)
    >>> vae = VAESampler(max_epochs=5, random_state=0).fit(X)
    >>> vae.sample(4, random_state=0).shape
    (4, 1)
    >>> bool(vae.score(X) > -3)
    True
    """

    _parameter_constraints = {
        **BaseTorchEstimator._parameter_constraints,
        "latent_dim": [IntervalNotBool(Integral, 1, None, closed="left")],
        "n_density_draws": [IntervalNotBool(Integral, 1, None, closed="left")],
    }

    def __init__(self, latent_dim=4, hidden_layer_sizes=(64, 64), n_density_draws=4096,
                 max_epochs=200, batch_size=256, learning_rate=1e-3, early_stopping=True,
                 validation_fraction=0.15, n_iter_no_change=10, tol=1e-4, callbacks=None,
                 random_state=None, verbose=0, device="cpu"):
        self.latent_dim = latent_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.n_density_draws = n_density_draws
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    def score_samples(self, X):
        """Log-density of the fitted model at each row of ``X``.

        The VAE's density ``p(x) = E_z p(x | z)`` has no closed form; it is estimated by
        the decoder's Gaussians averaged over ``n_density_draws`` prior draws fixed at fit
        time, exactly as for QEGM's classical twin. That finite mixture is a normalised
        density and converges to the density :meth:`sample` draws from as the draws grow.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        log_density = gaussian_mixture_logpdf(self._standardize_values(X), *self._components)
        return log_density - np.log(self._value_scaling[1]).sum()

    def _make_network(self):
        hidden, n_features = self._hidden_sizes(), self.n_features_in_
        return torch.nn.ModuleDict({
            "encoder": GaussianHead(n_features, hidden, self.latent_dim),
            "decoder": GaussianHead(self.latent_dim, hidden, n_features),
        })

    def _get_loss(self, x, generator):
        mean_z, scale_z = self.network_["encoder"](x)
        # Drawn on the CPU generator, then moved to the batch's device.
        z = mean_z + scale_z * torch.randn(mean_z.shape, generator=generator).to(x.device)
        mean, scale = self.network_["decoder"](z)
        nll = (0.5 * ((x - mean) / scale) ** 2 + torch.log(scale)).sum(-1)
        nll = nll + 0.5 * x.shape[1] * np.log(2 * np.pi)
        return (nll + gaussian_kl(mean_z, scale_z)).mean()

    def _prepare_fit(self, values, context, seeds):
        # The density's draws are decoded at once after training, and score_samples holds
        # one row against all of them: refuse what cannot fit before training.
        per_draw = 8.0 * (self.latent_dim + sum(self._hidden_sizes()) + 4 * values.shape[1] + 1)
        check_memory(per_draw * self.n_density_draws,
                     f"fitting with n_density_draws={self.n_density_draws}",
                     f"use fewer n_density_draws, or a smaller latent_dim "
                     f"({self.latent_dim}) or hidden_layer_sizes.")

    @torch.no_grad()
    def _finish_fit(self, train_set, seeds, generator):
        # Fix the prior draws that define score_samples.
        z = torch.randn(self.n_density_draws, self.latent_dim, generator=generator)
        mean, scale = self.network_["decoder"](z)
        self._components = (np.full(len(z), -np.log(len(z))), mean.double().numpy(),
                            scale.double().numpy())

    def _draw(self, n_samples, generator):
        # The fit's latent_dim, not one set after fit (torch's shape error).
        z = torch.randn(n_samples, fit_param(self, "latent_dim"), generator=generator)
        mean, scale = self.network_["decoder"](z)
        return mean + scale * torch.randn(mean.shape, generator=generator)
