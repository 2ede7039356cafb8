"""QEGMSampler: the paper's hybrid quantum-latent generative model, and its classical twin."""

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..quantum import check_backend
from ..quantum.circuits import ENCODINGS
from ..quantum.simulator import MAX_QUBITS
from ..utils._fitting import center_scale, single_torch_thread, validation_split
from ..utils._mixins import LogDensityScoreMixin
from ..utils._nn import gaussian_mixture_logpdf
from ..utils._validation import check_int, check_option, check_real, check_shots
from ._training import (
    NoiseSource,
    build_network,
    draw_seeds,
    mixture_codes,
    n_latent,
    prior_draws,
    provenance,
    train_network,
)

LATENTS = ("quantum", "gaussian")
NOISES = ("prng", "qrng", None)
# Early stopping: epochs without a validation improvement before training stops.
_PATIENCE = 10


class QEGMSampler(LogDensityScoreMixin, BaseEstimator):
    """Quantum-enhanced generative model (QEGM) of tabular data, with its classical twin.

    The model of the paper (its eqs. 2-7): an encoder ``q(z | x) = N(f(x), diag s(x)^2)``
    (VAE-style), a variational quantum layer (QVL) fed with ``z`` plus the noise of
    eq. 7, and a decoder. Samples are drawn as ``z ~ N(0, I)``, ``z~ = z + eta`` with
    ``eta ~ N(0, noise_scale^2 r)`` and ``r`` uniform on [0, 1] (from a PRNG or a
    :class:`~skqegm.quantum.QuantumRandomSource`), then the QVL's circuit ``U(theta) S(z~)``
    is measured once, and the decoder maps the measured bitstring ``k`` to a diagonal
    Gaussian ``N(mean(k), diag scale(k)^2)`` from which ``x`` is drawn.

    Why the measured bitstring feeds the decoder: a measurement outcome is a discrete
    latent code, so the model's density is a mixture of up to ``2**n_qubits`` Gaussians
    weighted by the Born probabilities of the circuit (averaged over ``z~``). Separate
    modes of the data become separate outcomes. Decoding the expectation values
    ``<Z_i>`` instead, a smooth and deterministic function of ``z``, gives a VAE whose
    decoder must bend one Gaussian blob of latents over all modes, which is how the
    published reproduction's models collapsed the tail mixture to one bump.

    With ``latent="gaussian"`` (the classical twin) the QVL is removed and the decoder
    reads ``z~`` (of ``n_qubits`` dimensions) directly: the same encoder, decoder, loss,
    noise and training, differing only in the latent.

    Training minimises ``rec_weight * L_rec + tail_weight * L_tail`` (eq. 5) with Adam,
    where ``L_rec`` is the negative evidence lower bound (the decoder's negative
    log-likelihood of ``x`` given the encoded ``z``, plus the KL divergence of ``q(z | x)``
    from the prior) and ``L_tail`` the Bernoulli KL divergence between the training
    frequency and the model's probability beyond each feature's ``tail_quantile`` and
    ``1 - tail_quantile`` thresholds (see :mod:`skqegm.models.losses`). On the exact
    backend every parameter trains by autograd; on a Qiskit backend the circuit weights
    (and the angles coming from the encoder) train by parameter shift (eq. 6) through
    that backend, one primitive call per batch, and the classical networks by backprop.
    The data are standardised internally.

    Parameters
    ----------
    n_qubits : int, default=4
        Qubits of the QVL (1 to 20 on the exact backend); the decoder reads
        ``n_qubits`` numbers (a bitstring, or the twin's latent vector). Cost grows as
        ``2**n_qubits`` (one mixture component per outcome).
    n_layers : int, default=3
        Layers of the hardware-efficient ansatz (eq. 11).
    encoding : {"angle", "amplitude"}, default="angle"
        How ``z~`` enters the circuit: one ``Ry`` angle per qubit (``z`` has ``n_qubits``
        dimensions) or as amplitudes (``2**n_qubits`` dimensions, exact backend only:
        amplitude inputs have no parameter-shift rule).
    latent : {"quantum", "gaussian"}, default="quantum"
        The QVL, or the classical twin's Gaussian latent.
    backend : None, str, BackendV2, BaseSamplerV2 or BaseEstimatorV2, default=None
        Where the circuit runs: ``None`` / ``"exact"`` (the torch simulator),
        ``"statevector"``, ``"aer"``, a fake or real IBM device, or a primitive; see
        :mod:`skqegm.quantum.backends`. Also runs the QRNG of ``noise="qrng"``.
    shots : int or None, default=None
        Shots per circuit evaluation; ``None`` computes exact probabilities (needs the
        exact, statevector or aer backend, or a noiseless estimator).
    hidden_layer_sizes : tuple of int, default=(64, 64)
        Hidden layers of the encoder and of the decoder (ReLU MLPs).
    rec_weight, tail_weight : float, default=1.0
        ``lambda_1`` and ``lambda_2`` of eq. 5; non-negative, not both zero.
    tail_quantile : float, default=0.05
        Each feature's lower and upper tail region in ``L_tail``, in (0, 0.5).
    noise : {"prng", "qrng", None}, default="prng"
        Source of ``r`` in eq. 7. The two sources give the same distribution; "qrng" on a
        simulator is a seeded PRNG behind a circuit (see
        :class:`~skqegm.quantum.QuantumRandomSource`).
    noise_scale : float, default=0.1
        ``sigma`` of eq. 7, >= 0.
    max_epochs : int, default=200
    batch_size : int, default=256
        Rows per step (capped at the training size); as many prior draws per step
        estimate the model's tail mass.
    learning_rate : float, default=1e-3
        Adam's step size.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows, stop when their loss has not
        improved by 1e-4 for 10 epochs, and keep the best epoch's parameters.
    validation_fraction : float, default=0.15
        In (0, 1).
    random_state : int, RandomState instance or None, default=None
        Seeds network initialisation, training, circuit weights, simulators and noise.
    verbose : int, default=0
        ``>= 1`` prints the loss of every epoch.

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Defined when ``X`` has string column names.
    network_ : GenerativeNetwork
        The trained torch modules (encoder, latent, decoder).
    quantum_layer_ : SamplerTransformer or None
        The QVL with its trained weights, usable on its own (``transform`` gives the
        outcome probabilities of latent vectors); ``None`` for the classical twin.
    loss_curve_ : list of float
        Mean training loss per epoch.
    validation_scores_ : list of float or None
        Minus the validation loss per epoch (greater is better); ``None`` without early
        stopping.
    n_iter_ : int
        Epochs run.
    tail_threshold_ : ndarray of shape (2, n_features)
        Lower (row 0) and upper (row 1) ``tail_quantile`` thresholds of the training data.
    provenance_ : dict
        What a run needs to be reproduced: backend, shots, seeds, package versions.

    Examples
    --------
    >>> from skqegm import QEGMSampler
    >>> from skqegm.datasets import make_tail_mixture
    >>> X, _ = make_tail_mixture(2000, random_state=0)
    >>> model = QEGMSampler(max_epochs=5, random_state=0).fit(X)
    >>> model.sample(3, random_state=0).shape
    (3, 1)
    >>> model.quantum_layer_.n_qubits_
    4
    """

    def __init__(
        self,
        n_qubits=4,
        n_layers=3,
        encoding="angle",
        latent="quantum",
        backend=None,
        shots=None,
        hidden_layer_sizes=(64, 64),
        rec_weight=1.0,
        tail_weight=1.0,
        tail_quantile=0.05,
        noise="prng",
        noise_scale=0.1,
        max_epochs=200,
        batch_size=256,
        learning_rate=1e-3,
        early_stopping=True,
        validation_fraction=0.15,
        random_state=None,
        verbose=0,
    ):
        self.n_qubits = n_qubits
        self.n_layers = n_layers
        self.encoding = encoding
        self.latent = latent
        self.backend = backend
        self.shots = shots
        self.hidden_layer_sizes = hidden_layer_sizes
        self.rec_weight = rec_weight
        self.tail_weight = tail_weight
        self.tail_quantile = tail_quantile
        self.noise = noise
        self.noise_scale = noise_scale
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.verbose = verbose

    # -- public API ---------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Train encoder, latent and decoder on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, finite.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        X = validate_data(self, X, dtype=np.float64)
        self._check_params()
        seeds = draw_seeds(self.random_state)
        train, val = validation_split(self, len(X), seeds["split"], type(self).__name__)

        self._center, self._scale = center_scale(X)
        Xs = (X - self._center) / self._scale
        self.tail_threshold_ = np.quantile(X[train], [self.tail_quantile,
                                                      1 - self.tail_quantile], axis=0)
        thresholds = (self.tail_threshold_ - self._center) / self._scale
        tail_freq = np.stack([(Xs[train] <= thresholds[0]).mean(0),
                              (Xs[train] >= thresholds[1]).mean(0)])

        with torch.random.fork_rng(devices=[]), single_torch_thread():
            torch.manual_seed(seeds["torch"])
            self.network_ = build_network(self, X.shape[1], seeds["circuit"])
            noise = NoiseSource(self, seeds["noise"])
            self.loss_curve_, self.validation_scores_, self.n_iter_ = train_network(
                self, self.network_, (Xs[train], None), (Xs[val], None), thresholds,
                tail_freq, noise, seeds["torch"], type(self).__name__, patience=_PATIENCE,
            )
            log_weights, codes = mixture_codes(self.network_, noise, seeds["density"])
            with torch.no_grad():
                mean, scale = self.network_.decoder(codes)
            self._components = (log_weights, mean.double().numpy(), scale.double().numpy())
        layer = getattr(self.network_.latent, "layer", None)
        self.quantum_layer_ = None if layer is None else layer.to_transformer()
        self.provenance_ = provenance(self, seeds, self.quantum_layer_)
        return self

    def sample(self, n_samples=1, random_state=None):
        """Draw samples from the fitted model.

        Each draw runs the generative process: a prior latent plus eq. 7 noise, one
        measurement of the QVL (one shot on a Qiskit backend, up to 8,192 draws per call), and
        a draw from the decoded Gaussian.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples, >= 1.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws (latents, noise, measurement shots); an int gives the same
            samples every time.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        n_samples = check_int(n_samples, "n_samples", min_value=1)
        rng = check_random_state(random_state)
        noise = NoiseSource(self, int(rng.randint(np.iinfo(np.int32).max)))
        z = prior_draws(n_samples, n_latent(self), noise, rng)
        with torch.no_grad():
            codes = self.network_.latent.sample_codes(z, rng)
            mean, scale = self.network_.decoder(codes)
        eps = rng.standard_normal(mean.shape)
        return (mean.double().numpy() + scale.double().numpy() * eps) * self._scale + self._center

    def score_samples(self, X):
        """Log-density of the fitted model at each row of ``X``.

        The density is the decoder's Gaussians averaged over 4096 latent draws fixed at
        fit time (``skqegm.models._training.DENSITY_DRAWS``): for the quantum latent a
        mixture of ``2**n_qubits`` Gaussians weighted by the averaged Born probabilities,
        for the twin a mixture of 4096 Gaussians. Either way it is a normalised density (a
        finite mixture), and it converges to the density that :meth:`sample` draws from as
        the draws grow.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        Xs = (X - self._center) / self._scale
        return gaussian_mixture_logpdf(Xs, *self._components) - np.log(self._scale).sum()


    # -- validation ---------------------------------------------------------------------------
    def _check_params(self):
        """Raise ``ValueError`` naming the first bad parameter; return the backend kind.

        Also called by :class:`~skqegm.TailRiskEstimator`, which trains this architecture.
        """
        kind = check_backend(self.backend)
        check_option(self.latent, "latent", LATENTS)
        check_option(self.encoding, "encoding", ENCODINGS)
        check_option(self.noise, "noise", NOISES)
        max_qubits = MAX_QUBITS if kind == "exact" or self.latent == "gaussian" else None
        check_int(self.n_qubits, "n_qubits", min_value=1, max_value=max_qubits)
        check_int(self.n_layers, "n_layers", min_value=1)
        check_shots(self.shots)
        if self.latent == "quantum" and kind == "exact" and self.shots is not None:
            raise ValueError(
                "shots needs a Qiskit backend (e.g. backend='aer'); the exact backend "
                f"(backend=None) computes exact probabilities. Got shots={self.shots!r}."
            )
        if self.latent == "quantum" and kind != "exact" and self.encoding == "amplitude":
            raise ValueError(
                "encoding='amplitude' trains only on the exact backend (backend=None): "
                "amplitude-encoded inputs have no parameter-shift rule. Use "
                "encoding='angle' on Qiskit backends."
            )
        if self.noise == "qrng" and kind == "estimator":
            raise ValueError("noise='qrng' samples bits, which an estimator backend cannot do; "
                             "pass a sampler or backend, or use noise='prng'.")
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__") or isinstance(sizes, str):
            raise ValueError(
                f"hidden_layer_sizes must be a tuple of positive ints; got {sizes!r}.")
        for size in sizes:
            check_int(size, "hidden_layer_sizes entries", min_value=1)
        check_real(self.rec_weight, "rec_weight", low=0)
        check_real(self.tail_weight, "tail_weight", low=0)
        if self.rec_weight == 0 and self.tail_weight == 0:
            raise ValueError("rec_weight and tail_weight are both 0: nothing to train.")
        check_real(self.tail_quantile, "tail_quantile", low=0, high=0.5, low_open=True,
                   high_open=True)
        check_real(self.noise_scale, "noise_scale", low=0)
        check_int(self.max_epochs, "max_epochs", min_value=1)
        check_int(self.batch_size, "batch_size", min_value=1)
        check_real(self.learning_rate, "learning_rate", low=0, low_open=True)
        check_option(self.early_stopping, "early_stopping", (True, False))
        check_real(self.validation_fraction, "validation_fraction", low=0, high=1,
                   low_open=True, high_open=True)
        check_int(self.verbose, "verbose", min_value=0)
        return kind
