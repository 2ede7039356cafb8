"""TailRiskEstimator: conditional tail risk with the QEGM architecture."""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ..exceptions import ExtrapolationWarning
from ..nn.modules import float64_copy
from ..quantum import QuantumLayer
from ..quantum.runtime import DEFAULT_MAX_RETRIES
from ..utils._memory import check_memory
from ..utils._sampling import draw_random_state
from ..utils._tails import flag_beyond, tail_thresholds
from ..utils._validation import (
    IntervalNotBool,
    check_confidence_level,
    check_int,
    check_not_strings,
    check_option,
    check_real,
)
from ..utils._warnings import caller_stacklevel
from ._base import DENSITY_DRAWS, BaseQEGM
from ._mixture1d import (
    mixture_cdf,
    mixture_logpdf,
    mixture_quantiles,
    mixture_tail_mean,
    sample_mixture,
)

#: Fewest training rare events below which ``fit`` warns that the base rate (the default
#: decision threshold) and the tail fit rest on too few points.
MIN_RARE_EVENTS = 5
#: Latent draws that make the classical twin's conditional mixture (each is one
#: component per row, evaluated at every prediction; the quantum latent has ``2**n``),
#: spread evenly (a scrambled Sobol sequence): 99% quantiles within 0.4% of the
#: trained network's (median; 256 independent draws were 6% off).
TWIN_DENSITY_DRAWS = 1024
#: Latent draws per row that make the mixture weights of ``mixture_weights="conditional"``
#: (the same draws for every row, fixed at fit time).
CONDITIONAL_DENSITY_DRAWS = 256
# Rows x components per block when the decoder evaluates the mixtures.
_DECODER_BLOCK = 2**17
# (rows x components) entries of the predictive mixtures the predict methods hold at once.
_PREDICT_BLOCK = 2**20
#: Rows of X this many training ranges beyond the training features are refused.
EXTRAPOLATION_LIMIT = 1e3


class TailRiskEstimator(RegressorMixin, BaseQEGM):
    """Conditional distribution of a target ``y`` given features ``X``, for tail risk.

    A conditional version of the :class:`~skqegm.QEGMSampler` architecture (a
    conditional VAE): the encoder reads ``(y, X)``, the latent (the measured variational
    quantum layer, or the twin's Gaussian with ``latent="gaussian"``) is unchanged, and
    the decoder maps ``(code, X)`` to a Gaussian over ``y``. The predictive distribution
    of a row is thus a finite mixture ``p(y | x) = sum_k w_k N(y; m_k(x), s_k(x)^2)``: for
    the quantum latent the ``2**n_qubits`` outcome codes weighted by their Born
    probabilities averaged over prior draws (fixed at fit time), for the twin 1,024 prior
    draws equally weighted. The means and scales follow ``x``, so intervals widen where
    the data are more volatile; with ``mixture_weights="conditional"`` the weights
    follow ``x`` too (regime-aware mixtures: the features enter the circuit's angle
    encoding, so the probability of a crash component can rise with the regime).

    It is trained with the sampler's hybrid loss (eq. 5), whose tail term matches the
    model's probability beyond the two thresholds of ``tail_threshold_``, averaged over
    the training features, with their training frequency. Early stopping waits
    ``n_iter_no_change=20`` epochs by default, twice the sampler's: the conditional fit
    keeps improving after plateaus of 10 epochs (measured on ``y = sigma(x) t_4``:
    stopping after 10 left the intervals too wide, 0.83 coverage at a nominal 0.80; after
    20 they were within 0.03 of nominal on 11 of 12 seeds, the twelfth stopping early
    with 0.832: ``benchmarks/README.md``).

    Every prediction (median, probabilities, quantiles, intervals, VaR, ES,
    log-likelihood) is computed exactly from that mixture, so predictions are
    deterministic and :meth:`sample_y` draws from the same distribution. The mixture is
    itself a Monte Carlo estimate of the trained network's law over a continuous
    latent. The twin's components are its draws, spread evenly (a scrambled Sobol
    sequence): on ``y = (1 + x^2) t_4`` (3,000 rows, 10 sets of 1,024 draws against
    131,072 independent draws) its 99% quantile differed by 0.4% (median; 0.9% at most)
    and its 99.9% quantile by 0.9% (1.5%), where 256 independent draws, used before
    0.2.0, were 6% (14% at most, over 20 sets) and 8% off; with the quantum latent's
    4,096 draws both moved by under 0.3% (two sets, against 65,536 draws). See the user
    guide's "The predictive distribution". As a scikit-learn
    regressor its :meth:`predict` is the conditional median, so it serves as the point
    forecast of conformal wrappers (MAPIE) and of ``cross_val_predict``; the rare-event
    flags are :meth:`predict_rare`.

    Rare events are the ``y`` strictly beyond the threshold of ``tail_threshold_`` on
    ``side``.

    Parameters
    ----------
    side : {"lower", "upper"}, default="lower"
        The tail at risk: "lower" for losses of a long position (crashes), "upper" for
        exceedances of a high level (floods, a short position). The fit learns both
        tails (its thresholds and tail loss are two-sided; ``side`` only chooses which
        training tail must hold rare events), and the predictions read ``side`` when
        they are made: ``set_params(side="upper")`` after a fit forecasts the other tail
        of the same fitted model, without a refit.
    tail_rule : {"quantile", "sigma"}, default="quantile"
        How the thresholds are set from the training ``y``: its ``tail_fraction`` and
        ``1 - tail_fraction`` quantiles (the paper's eq. 9), or its mean -/+ ``k``
        standard deviations (eq. 8).
    tail_fraction : float, default=0.025
        The fraction of the training ``y`` in each tail, in (0, 0.5), for
        ``tail_rule="quantile"``.
    k : float, default=2.5
        The number of standard deviations, > 0, for ``tail_rule="sigma"``.
    coverage : float, default=0.9
        Default nominal coverage of :meth:`predict_interval`, in (0, 1).
    n_draws : int, default=1000
        Default number of draws per row of :meth:`sample_y`, >= 1.
    decision_threshold : float or None, default=None
        :meth:`predict_rare` flags a row when its tail probability is above this value,
        in [0, 1]; ``None`` uses the training base rate on ``side``, ``base_rate_``
        (flag the rows whose risk is above the usual), which needs a rare event on that
        side in the training ``y``.
    n_qubits, n_layers, encoding, latent, backend, shots : see :class:`~skqegm.QEGMSampler`
        The latent: ``latent="gaussian"`` is the classical twin, ``"categorical"`` a
        learned softmax over the same ``2**n_qubits`` codes without a circuit. Like the
        architecture, ``backend`` and ``shots`` are fixed at fit until a refit.
    max_shots, max_retries, job_timeout, fallback, session : see :class:`~skqegm.QEGMSampler`
        How jobs run on a Qiskit backend: shot budget, retries, timeout, fallback
        backend, Batch or Session. The circuits that predictions run after the fit
        (``mixture_weights="conditional"``) count against the fit's budget and follow
        the current ``max_shots``, ``max_retries``, ``job_timeout`` and ``fallback``.
    hidden_layer_sizes : int or tuple of int, default=(64, 64)
        Hidden layers of the encoder and of the decoder (ReLU MLPs).
    rec_weight, tail_weight : float, default=1.0
        ``lambda_1`` and ``lambda_2`` of eq. 5; non-negative, not both zero.
    noise : {"prng", "qrng", None}, default="prng"
        Source of ``r`` in eq. 7.
    noise_scale : float, default=0.1
        ``sigma`` of eq. 7, >= 0.
    max_epochs : int, default=200
    batch_size : int, default=256
    learning_rate : float, default=1e-3
    early_stopping : bool, default=True
    validation_fraction : float, default=0.15
    n_iter_no_change : int, default=20
    tol : float, default=1e-4
    callbacks : list of Callback or None, default=None
        Training settings, as in :class:`~skqegm.QEGMSampler`.
    random_state : int, RandomState instance or None, default=None
        Seeds network initialisation, training, circuit weights, simulators, noise, and
        the draws of :meth:`sample_y` when it gets no ``random_state`` of its own.
    verbose : int, default=0
        ``>= 1`` prints the loss of every epoch.
    entanglement : {"linear", None}, default="linear"
        The ansatz's CNOT chain, or none (a circuit without entanglement); see
        :class:`~skqegm.QEGMSampler`.
    mixture_weights : {"conditional", "shared"}, default="shared"
        Whether the mixture weights depend on the features. ``"shared"``: one set of
        weights for every row (the latent's weights averaged over 4096 prior draws);
        only the components' means and scales follow ``x``. ``"conditional"``: the
        latent's input is shifted and scaled by learned linear functions of the
        (standardised) features, ``u = z * exp(s(x)) + m(x)``, before the latent reads
        it (a conditional prior), so each row has its own weights, averaged over 256
        prior draws (the twin's spread evenly, as above): for the quantum latent the
        features enter the circuit's angles and the Born distribution over the
        ``2**n_qubits`` codes moves with them; the categorical latent's softmax reads
        ``u``; the twin's code is ``u`` (its shift is a reparametrisation of the
        decoder's first layer, its scale is new). Compare the
        two to measure what regime-dependent weights add. On a Qiskit backend
        ``"conditional"`` runs 256 circuits per predicted row.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where the training epochs run; ``"auto"`` is CUDA when torch sees a GPU, else the
        CPU; ``"cuda"`` without one is refused at fit. Each batch moves to the device
        as it is used, and the fitted model is kept on the CPU, so it predicts, samples
        and pickles on any machine. On a Qiskit backend the quantum latent trains on
        the CPU (parameter shift runs on the backend; ``"cuda"`` is refused).

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Defined when ``X`` has string column names.
    tail_threshold_ : ndarray of shape (2, 1)
        The lower (row 0) and upper (row 1) thresholds of ``y`` set by ``tail_rule``; the
        one on ``side`` defines the rare events.
    base_rate_ : float
        Fraction of the training ``y`` beyond the threshold on ``side``.
    network_ : GenerativeNetwork
        The trained torch modules.
    quantum_layer_ : SamplerTransformer or None
        The trained variational layer; ``None`` for the twin. Its jobs are the
        model's, as in :class:`~skqegm.QEGMSampler`.
    loss_curve_, validation_scores_, n_iter_ : list, list or None, int
        Training history, as in :class:`~skqegm.QEGMSampler`.
    provenance_ : dict
        Backend, shots, seeds and package versions of the run.

    Notes
    -----
    Sign conventions of :meth:`predict_var` and :meth:`predict_es` follow
    :func:`skqegm.metrics.var_exceedances`: for ``side="lower"`` they are positive
    losses (a 99% VaR of 0.03 means ``P(y < -0.03 | x) = 1%``); for ``side="upper"`` they
    are levels of ``y`` itself (``P(y > VaR | x) = 1%``).

    Inside a :class:`skqegm.pipeline.Pipeline` every method of the tail API is reached
    through the preceding transformers.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm import TailRiskEstimator
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(2000, 1))
    >>> y = (1 + X[:, 0] ** 2) * rng.standard_t(4, size=2000)
    >>> model = TailRiskEstimator(max_epochs=5, early_stopping=False, random_state=0)
    >>> model.fit(X, y).predict_interval(X[:2]).shape
    (2, 2)
    >>> bool(np.all(model.predict_es(X[:5], 0.99) > model.predict_var(X[:5], 0.99)))
    True
    >>> model.predict(X[:3]).shape, model.predict_rare(X[:3]).dtype.kind
    ((3,), 'i')
    """

    _parameter_constraints = {
        **BaseQEGM._parameter_constraints,
        "side": [StrOptions({"lower", "upper"})],
        "tail_rule": [StrOptions({"quantile", "sigma"})],
        "tail_fraction": [IntervalNotBool(Real, 0, 0.5, closed="neither")],
        "k": [IntervalNotBool(Real, 0, None, closed="neither")],
        "coverage": [IntervalNotBool(Real, 0, 1, closed="neither")],
        "n_draws": [IntervalNotBool(Integral, 1, None, closed="left")],
        "decision_threshold": [IntervalNotBool(Real, 0, 1, closed="both"), None],
        "mixture_weights": [StrOptions({"conditional", "shared"})],
    }

    def __init__(
        self,
        side="lower",
        tail_rule="quantile",
        tail_fraction=0.025,
        k=2.5,
        coverage=0.9,
        n_draws=1000,
        decision_threshold=None,
        n_qubits=4,
        n_layers=3,
        encoding="angle",
        latent="quantum",
        backend=None,
        shots=None,
        hidden_layer_sizes=(64, 64),
        rec_weight=1.0,
        tail_weight=1.0,
        noise="prng",
        noise_scale=0.1,
        max_epochs=200,
        batch_size=256,
        learning_rate=1e-3,
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=20,
        tol=1e-4,
        callbacks=None,
        random_state=None,
        verbose=0,
        max_shots=None,
        max_retries=DEFAULT_MAX_RETRIES,
        job_timeout=None,
        fallback=None,
        session=False,
        entanglement="linear",
        mixture_weights="shared",
        device="cpu",
    ):
        self.side = side
        self.tail_rule = tail_rule
        self.tail_fraction = tail_fraction
        self.k = k
        self.coverage = coverage
        self.n_draws = n_draws
        self.decision_threshold = decision_threshold
        self.n_qubits = n_qubits
        self.n_layers = n_layers
        self.encoding = encoding
        self.latent = latent
        self.backend = backend
        self.shots = shots
        self.hidden_layer_sizes = hidden_layer_sizes
        self.rec_weight = rec_weight
        self.tail_weight = tail_weight
        self.noise = noise
        self.noise_scale = noise_scale
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
        self.max_shots = max_shots
        self.max_retries = max_retries
        self.job_timeout = job_timeout
        self.fallback = fallback
        self.session = session
        self.entanglement = entanglement
        self.mixture_weights = mixture_weights
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # score is the conditional log-likelihood, not R^2: no bar of 0.5 applies to it.
        tags.regressor_tags.poor_score = True
        return tags

    _values_name = "y"

    def __setstate__(self, state):
        # A model saved before mixture_weights existed had weights shared by every row.
        super().__setstate__({"mixture_weights": "shared", **state})

    # -- the hooks of the fit loop ------------------------------------------------------------
    def _value_names(self):
        return None

    def _validate_fit_data(self, X, y):
        check_not_strings(y, "y")
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        return y.astype(np.float64)[:, None], X

    def _prepare_fit(self, values, context, seeds):
        super()._prepare_fit(values, context, seeds)
        self._feature_range = (context.min(axis=0), context.max(axis=0))  # extrapolation
        y = values[:, 0]
        if np.ptp(y) == 0:
            raise ValueError(f"y is constant (every value is {y[0]!r}); a tail model needs a "
                             "target that varies.")
        self.tail_threshold_ = tail_thresholds(values, self.tail_rule,
                                               tail_fraction=self.tail_fraction, k=self.k)
        # Both sides' training rates: set_params(side=...) after fit takes effect at once
        # in the predictions, so predict_rare needs the other side's rate too.
        self._base_rates = {side: float(flag_beyond(y, self.tail_threshold_[:, 0], side).mean())
                            for side in ("lower", "upper")}
        n_rare = int(flag_beyond(y, self.tail_threshold_[:, 0], self.side).sum())
        self.base_rate_ = n_rare / len(y)
        if n_rare < MIN_RARE_EVENTS:
            rule = (f"tail_fraction={self.tail_fraction!r}" if self.tail_rule == "quantile"
                    else f"k={self.k!r}")
            warnings.warn(
                f"y has {n_rare} rare event{'s' * (n_rare != 1)} of {len(y)} beyond the "
                f"{self.side} threshold {self._rare_threshold():.4g} (tail_rule="
                f"{self.tail_rule!r}, {rule}); fewer than {MIN_RARE_EVENTS}, so base_rate_ "
                f"= {self.base_rate_:.4g} and the fitted tail rest on too few points. Use "
                "more rows or a less extreme tail." + (
                    " With no rare event, predict_rare has no threshold (base_rate_ is 0) "
                    "and refuses to flag until decision_threshold is set."
                    if n_rare == 0 and self.decision_threshold is None else ""),
                UserWarning, stacklevel=caller_stacklevel(),
            )

    def _density_draws(self):
        # The twin's components are its draws; the other latents share 2**n codes. Weights
        # that follow the features are averaged anew for every row: fewer draws.
        if self._conditional_weights():
            return CONDITIONAL_DENSITY_DRAWS
        return TWIN_DENSITY_DRAWS if self.latent == "gaussian" else DENSITY_DRAWS

    def _conditional_weights(self):
        return self.mixture_weights == "conditional"

    # -- predictions --------------------------------------------------------------------------
    def _side(self):
        """``side``, validated: the predictions read it when they are made, so a value
        set after the fit (``set_params(side=...)``) is checked here, not by a fit."""
        return check_option(self.side, "side", ("lower", "upper"))

    def _rare_threshold(self):
        return self.tail_threshold_[0 if self._side() == "lower" else 1, 0]

    def _predictive_mixture(self, X):
        """Every row's predictive mixture ``(log_weights, mean, scale)`` in units of y."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        self._check_extrapolation(X)
        # weights, mean and scale, plus the decoder's work on a block of rows
        check_memory(3 * 8.0 * len(X) * self._n_components(), f"predicting {len(X)} rows",
                     "predict fewer rows per call.")
        return self._mixture_of_rows(X)

    def _predict_rows(self, X, compute, *columns):
        """``compute(mixture, *column_blocks)`` on blocks of rows of ``X``, concatenated.

        The predict methods hold one block's mixtures (about 16 MB), not every row's
        (``2 x n_rows x 2**n_qubits`` floats). ``columns`` are per-row arrays (such as
        ``y``) split with the rows.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        self._check_extrapolation(X)
        step = max(1, _PREDICT_BLOCK // self._n_components())
        blocks = [compute(self._mixture_of_rows(X[start:start + step]),
                          *(column[start:start + step] for column in columns))
                  for start in range(0, max(len(X), 1), step)]
        return np.concatenate(blocks)

    def _mixture_of_rows(self, X):
        """The predictive mixtures of validated rows ``X``, in units of y."""
        log_weights, mean, scale = self._components(self._standardize_context(X))
        center, y_scale = self._value_scaling
        return log_weights, mean * y_scale + center, scale * y_scale

    def _n_components(self):
        if self._latent_mixture is not None:
            return len(self._latent_mixture[0])
        if self._twin():
            return len(self._latent_draws)
        return self.network_.latent.n_codes

    def _components(self, context):
        """``(log_weights (K,) or (n_rows, K), mean, scale (n_rows, K))``, standardised."""
        if self._latent_mixture is not None:  # weights shared by every row
            return (self._latent_mixture[0], *self._decode(context))
        return self._conditional_components(context)

    def _twin(self):
        """Whether the fitted latent is the twin's Gaussian (one code per draw); read from
        the network, which ``set_params(latent=...)`` does not change until a refit."""
        return self.network_.latent.n_codes == 1

    def _conditional_components(self, context):
        """Each row's mixture under the conditional prior, in float64.

        The latent reads ``u = prior(z_d, x)`` for the draws ``z_d`` fixed at fit time:
        the twin's components are the ``u`` themselves (equal weights), the other
        latents' weights are ``P(k | u)`` averaged over the draws.
        """
        network = self.network_
        draws = torch.from_numpy(self._latent_draws).double()
        n_draws = len(draws)
        prior = float64_copy(network.prior)  # a few numbers; float64 predictions
        twin = self._twin()
        n_components = self._n_components()
        log_weights = (np.full(n_draws, -np.log(n_draws)) if twin
                       else np.empty((len(context), n_components)))
        mean = np.empty((len(context), n_components))
        scale = np.empty_like(mean)
        weights_of = None if twin else self._float64_weights()
        step = max(1, _DECODER_BLOCK // (n_draws * (1 if twin else n_components)))
        with torch.no_grad():
            for start in range(0, len(context), step):
                rows = slice(start, start + step)
                c = torch.from_numpy(context[rows])
                u = prior(draws, c[:, None, :])  # (rows, draws, n_latent)
                if twin:
                    m, s = network.decoder.forward_pairs(u, c)
                else:
                    w = weights_of(u.reshape(-1, u.shape[-1])).reshape(len(c), n_draws, -1)
                    w = w.mean(dim=1).numpy()
                    with np.errstate(divide="ignore"):  # outcomes never seen under shots
                        log_weights[rows] = np.log(w / w.sum(axis=1, keepdims=True))
                    m, s = network.decoder.forward_pairs(network.latent.code_table, c)
                mean[rows], scale[rows] = m[..., 0].numpy(), s[..., 0].numpy()
        return log_weights, mean, scale

    def _float64_weights(self):
        """The latent's weights ``P(k | u)`` as a float64 function of ``u``.

        The trained circuit in double precision: on a Qiskit backend its jobs are the
        fitted model's (one count against ``max_shots``, one record), under the current
        job parameters (see ``BaseQEGM._fitted_jobs``).
        """
        latent = self.network_.latent
        layer = getattr(latent, "layer", None)
        if layer is None:
            return float64_copy(latent).weights
        self._fitted_jobs()
        # The fitted transformer itself, not a copy (a copy's runner had jobs of its own,
        # outside the budget, under the fit's job parameters), with the trained weights.
        weights = QuantumLayer(layer.transformer, dtype=torch.complex128)
        # A new parameter: the layer's may share memory with the transformer's weights_.
        weights.weights = torch.nn.Parameter(layer.weights.detach().double().clone())
        return weights

    def _standardized_support(self, context, generator):
        if self._latent_mixture is not None:
            return super()._standardized_support(context, generator)
        # The components' means and scales, weights ignored (as for shared weights): no
        # circuit runs, only the decoder (and the twin's conditional prior).
        context = np.asarray(context, dtype=np.float64)
        if self.latent == "gaussian":
            _, mean, scale = self._conditional_components(context)
        else:
            mean, scale = (t.numpy() for t in self.network_.decoder.forward_pairs(
                self.network_.latent.code_table, torch.from_numpy(context)))
        return np.concatenate([mean - 3 * scale, mean + 3 * scale]).ravel()

    def _check_extrapolation(self, X):
        """Refuse rows too far from the training features to compute; warn of rows beyond
        half the training range (predictions there rest on no data)."""
        low, high = self._feature_range
        # A feature constant in training is standardised by 1 (its spread is 0), so its
        # network input moves by the distance itself: a constant 1000 met at 1400 is 400
        # units from anything seen (|value| + 1 took it for 0.4 ranges, unwarned).
        span = np.where(high > low, high - low, 1.0)
        with np.errstate(over="ignore", invalid="ignore"):
            distance = np.maximum(low - X, X - high) / span  # > 0 outside, in ranges
        if np.any(distance > EXTRAPOLATION_LIMIT):
            row, column = np.argwhere(distance > EXTRAPOLATION_LIMIT)[0]
            raise ValueError(
                f"X[{row}, {column}] = {X[row, column]:.4g} lies more than "
                f"{EXTRAPOLATION_LIMIT:.0e} training ranges outside the training values of "
                f"feature {column} ([{low[column]:.4g}, {high[column]:.4g}]): no prediction "
                "is meaningful there."
            )
        outside = np.any(distance > 0.5, axis=1)
        if outside.any():
            column = int(np.argmax(distance.max(axis=0)))
            warnings.warn(
                f"{outside.sum()} of {len(X)} rows of X lie beyond half the training range "
                f"outside the training values (feature {column}: [{low[column]:.4g}, "
                f"{high[column]:.4g}]); the predictions there extrapolate, with nothing to "
                "support them.", ExtrapolationWarning, stacklevel=caller_stacklevel(),
            )

    def _decode(self, context):
        """The decoder's ``mean, scale`` (n_rows, K) for every code beside every row.

        The trained torch decoder runs in float64. The same rows predicted together give
        the same bits every time, but a row's numbers may differ in the last bits with
        the rows predicted beside it: BLAS picks its kernels and blocking by the shapes
        of the matrix products, which changes the order of the sums (of 100 rows
        predicted one at a time, 49 to 76 differed, by at most 9e-16: a few units in the
        last place).
        """
        codes = torch.from_numpy(self._latent_mixture[1])
        mean = np.empty((len(context), len(codes)))
        scale = np.empty_like(mean)
        step = max(1, _DECODER_BLOCK // len(codes))
        # All threads: the blocks are large, unlike training batches (forward_pairs runs
        # without gradients).
        for start in range(0, len(context), step):
            rows = slice(start, start + step)
            m, s = self.network_.decoder.forward_pairs(codes, torch.from_numpy(context[rows]))
            mean[rows], scale[rows] = m[..., 0].numpy(), s[..., 0].numpy()
        return mean, scale

    def predict(self, X):
        """The conditional median of ``y``: the point forecast.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        median : ndarray of shape (n_samples,)
        """
        return self._predict_rows(X, lambda mixture: mixture_quantiles([0.5], *mixture)[:, 0])

    def predict_tail_proba(self, X):
        """Probability that ``y`` falls beyond the rare-event threshold, given each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples,)
            ``P(y < threshold | x)`` for ``side="lower"``, ``P(y > threshold | x)`` for
            ``side="upper"``, with the threshold of ``tail_threshold_`` on ``side``.
        """
        def tail_proba(mixture):
            threshold = np.full((len(mixture[1]), 1), self._rare_threshold())
            return mixture_cdf(threshold, *mixture, upper=self._side() == "upper")[:, 0]

        return self._predict_rows(X, tail_proba)

    def predict_rare(self, X):
        """Rare-event flags: 1 where the tail probability is above the decision threshold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        flags : ndarray of shape (n_samples,), dtype int
        """
        check_is_fitted(self)
        cutoff = self.decision_threshold
        side = self._side()
        if cutoff is not None:  # read now: a value set after the fit is checked here
            cutoff = check_real(cutoff, "decision_threshold", low=0, high=1)
        else:  # the training rate on side (base_rate_ for the fit's side)
            rates = getattr(self, "_base_rates", None)  # None: saved before they existed
            cutoff = self.base_rate_ if rates is None else rates[side]
            if cutoff == 0:  # every row with any tail probability would be flagged
                raise ValueError(
                    f"predict_rare needs decision_threshold: the training y held no rare "
                    f"event beyond the {side} threshold {self._rare_threshold():.4g}, so "
                    "the default threshold, the training rate, is 0 and would flag every "
                    "row. Set decision_threshold to a probability in [0, 1], or fit on data "
                    "with rare events.")
        proba = self.predict_tail_proba(X)
        return (proba > cutoff).astype(int)

    def rare_events(self, y):
        """Flags of observed targets strictly beyond the rare-event threshold.

        The events that :meth:`predict_rare` forecasts and :meth:`predict_tail_proba`
        gives the probability of, for scoring them against outcomes.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Observed targets.

        Returns
        -------
        flags : ndarray of shape (n_samples,), dtype int
            1 where ``y`` lies strictly beyond the threshold of ``tail_threshold_`` on
            ``side``, else 0.
        """
        check_is_fitted(self)
        check_not_strings(y, "y")
        y = column_or_1d(check_array(y, ensure_2d=False, dtype=np.float64, input_name="y"))
        return flag_beyond(y, self.tail_threshold_[:, 0], self._side()).astype(int)

    def predict_quantiles(self, X, quantiles):
        """Conditional quantiles of ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        quantiles : float or sequence of float
            Probabilities, each in (0, 1).

        Returns
        -------
        values : ndarray of shape (n_samples, n_quantiles)
        """
        # Checked before conversion to float: that parsed "0.1" and turned None into NaN.
        given = np.atleast_1d(np.asarray(quantiles, dtype=object))
        if given.ndim != 1 or given.size == 0:
            raise ValueError(f"quantiles must be a number or a 1-D sequence; got {quantiles!r}.")
        quantiles = np.array([_check_fraction(q, "quantiles") for q in given])
        return self._predict_rows(X, lambda mixture: mixture_quantiles(quantiles, *mixture))

    def predict_interval(self, X, coverage=None):
        """Central prediction interval: the ``(1 -/+ coverage) / 2`` conditional quantiles.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        coverage : float or None, default=None
            Nominal coverage in (0, 1); ``None`` uses the estimator's ``coverage``.

        Returns
        -------
        intervals : ndarray of shape (n_samples, 2)
            Lower and upper bounds.
        """
        coverage = self.coverage if coverage is None else coverage
        coverage = _check_fraction(coverage, "coverage")
        return self.predict_quantiles(X, [(1 - coverage) / 2, (1 + coverage) / 2])

    def predict_var(self, X, level=0.99):
        """Value-at-risk at ``level`` (a positive loss for ``side="lower"``; see Notes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        level : float, default=0.99
            Confidence level in (0.5, 1); the tail probability is ``1 - level`` (a tail
            probability such as 0.01 passed here is refused).

        Returns
        -------
        var : ndarray of shape (n_samples,)
        """
        level = check_confidence_level(level)
        return self._predict_rows(X, lambda mixture: self._var(mixture, level))

    def predict_es(self, X, level=0.99):
        """Expected shortfall at ``level``: the mean of ``y`` beyond the VaR (see Notes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        level : float, default=0.99
            Confidence level in (0.5, 1).

        Returns
        -------
        es : ndarray of shape (n_samples,)
        """
        level = check_confidence_level(level)
        upper = self._side() == "upper"

        def shortfall(mixture):
            var = self._var(mixture, level)
            quantile = var if upper else -var
            tail_mean = mixture_tail_mean(quantile, *mixture, upper=upper) / (1 - level)
            return tail_mean if upper else -tail_mean

        return self._predict_rows(X, shortfall)

    def _var(self, mixture, level):
        if self._side() == "upper":
            return mixture_quantiles([level], *mixture)[:, 0]
        return -mixture_quantiles([1 - level], *mixture)[:, 0]

    def sample_y(self, X, n_draws=None, random_state=None):
        """Draws of ``y`` from each row's conditional distribution.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_draws : int or None, default=None
            Draws per row, >= 1; ``None`` uses the estimator's ``n_draws``.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws; ``None`` uses the estimator's ``random_state``, so that an
            estimator built with an int gives the same draws at every call.

        Returns
        -------
        draws : ndarray of shape (n_samples, n_draws)

        Notes
        -----
        One seed gives the same array at every call, for the same rows and ``n_draws``
        only: ``sample_y(X, n)`` is not the first ``n`` columns of ``sample_y(X, m)``,
        nor are the draws of ``X[:k]`` the first rows of those of ``X`` (the components
        of every draw are chosen before the normal deviates are drawn).
        """
        n_draws = check_int(self.n_draws if n_draws is None else n_draws, "n_draws",
                            min_value=1)
        mixture = self._predictive_mixture(X)
        n_rows = len(mixture[1])
        # the draws, their component indices and standard normals
        check_memory(3 * 8.0 * n_rows * n_draws,
                     f"sample_y of {n_rows} rows with n_draws={n_draws}", "draw fewer per call.")
        rng = draw_random_state(self, random_state)
        return sample_mixture(n_draws, *mixture, rng)

    def score(self, X, y):
        """Mean conditional log-likelihood ``mean_i log p(y_i | x_i)`` (greater is better).

        Not the coefficient of determination of other regressors: the predictive
        distribution is scored, not the median alone. Pass ``scoring="r2"`` to model
        selection for R^2 of :meth:`predict`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        score : float
        """
        check_not_strings(y, "y")
        y = column_or_1d(check_array(y, ensure_2d=False, dtype=np.float64, input_name="y"))
        check_consistent_length(X, y)
        return float(self._predict_rows(X, lambda mixture, y: mixture_logpdf(y, *mixture),
                                        y).mean())


def _check_fraction(value, name):
    return check_real(value, name, low=0, high=1, low_open=True, high_open=True)
