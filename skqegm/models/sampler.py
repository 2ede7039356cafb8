"""QEGMSampler: the paper's hybrid quantum-latent generative model, and its classical twin."""

from numbers import Real

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted, validate_data

from ..nn.modules import gaussian_mixture_logpdf
from ..quantum.runtime import DEFAULT_MAX_RETRIES
from ..utils._fit_params import fit_param
from ..utils._memory import check_memory, sample_block
from ..utils._mixins import LogDensityScoreMixin
from ..utils._sampling import draw_random_state
from ..utils._tails import tail_thresholds
from ..utils._validation import IntervalNotBool, check_int
from ._base import BaseQEGM
from ._noise import NoiseSource, prior_draws


class QEGMSampler(LogDensityScoreMixin, BaseQEGM):
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
    frequency and the model's probability beyond each feature's lower and upper
    ``tail_fraction`` thresholds, ``tail_threshold_`` (see :mod:`skqegm.models.losses`).
    On the exact backend every parameter trains by autograd; on a Qiskit backend the
    circuit weights (and the angles coming from the encoder) train by parameter shift
    (eq. 6) through that backend, one primitive call per batch, and the classical
    networks by backprop.
    The data are standardised internally.

    Parameters
    ----------
    n_qubits : int, default=4
        Qubits of the QVL (1 to 20 on the exact backend, and with
        ``latent="categorical"`` on any backend: ``2**n_qubits`` codes); the decoder
        reads ``n_qubits`` numbers (a bitstring, or the twin's latent vector). Cost grows
        as ``2**n_qubits`` (one mixture component per outcome), except for the Gaussian
        twin, whose latent has ``n_qubits`` dimensions and is bounded only by the fit's
        memory estimate.
    n_layers : int, default=3
        Layers of the hardware-efficient ansatz (eq. 11).
    encoding : {"angle", "amplitude"}, default="angle"
        How ``z~`` enters the circuit: one ``Ry`` angle per qubit (``z`` has ``n_qubits``
        dimensions) or as amplitudes (``2**n_qubits`` dimensions, exact backend only:
        amplitude inputs have no parameter-shift rule).
    latent : {"quantum", "categorical", "gaussian"}, default="quantum"
        The QVL; ``"categorical"``, a learned softmax over the same ``2**n_qubits``
        codes (the logits an affine map of ``z``, as the Born probabilities are a
        function of ``z``): a discrete latent without a circuit; or ``"gaussian"``, the
        classical twin's continuous latent. The two controls run no circuit:
        ``n_layers``, ``encoding``, ``shots`` and ``entanglement`` are ignored, and
        ``backend`` serves only ``noise="qrng"``. See the user guide's "Controls".
    backend : None, str, BackendV2, BaseSamplerV2 or BaseEstimatorV2, default=None
        Where the circuit runs: ``None`` / ``"exact"`` (the torch simulator),
        ``"statevector"``, ``"aer"``, a fake or real IBM device, or a primitive; see
        :mod:`skqegm.quantum.backends`. Also runs the QRNG of ``noise="qrng"``.
        Fixed at fit, as the circuit is: after a fit, ``set_params(backend=...)`` takes
        effect at the next fit (``sample`` goes on running the fit's backend), except to
        re-attach the device of a model saved without it (see the user guide's
        "Backends after a fit").
    shots : int or None, default=None
        Shots per circuit evaluation; ``None`` computes exact probabilities (needs the
        exact, statevector or aer backend, or a noiseless estimator). Fixed at fit,
        as ``backend``.
    hidden_layer_sizes : int or tuple of int, default=(64, 64)
        Hidden layers of the encoder and of the decoder (ReLU MLPs).
    rec_weight, tail_weight : float, default=1.0
        ``lambda_1`` and ``lambda_2`` of eq. 5; non-negative, not both zero.
    tail_fraction : float, default=0.05
        The fraction of the training data in each feature's lower and in its upper tail,
        in (0, 0.5): the tail regions of ``L_tail`` and of ``tail_threshold_``.
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
        Adam's step size, in (0, 1000].
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows, stop when their loss has not
        improved by ``tol`` for ``n_iter_no_change`` epochs, and keep the best epoch's
        parameters.
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
        Seeds network initialisation, training, circuit weights, simulators and noise,
        and the draws of :meth:`sample` when it gets no ``random_state`` of its own.
    verbose : int, default=0
        ``>= 1`` prints the loss of every epoch.
    max_shots : int or None, default=None
        Shot budget of a Qiskit backend: the fit's total is estimated before the first
        submission (rows x parameter-shift circuits x steps x shots, see
        :meth:`estimate_cost`) and a fit over budget is refused with a
        :class:`~skqegm.exceptions.ShotBudgetError` giving the estimate; every later job
        of the fitted model (``sample``) counts against it too, under its current value
        (``set_params(max_shots=...)`` raises a budget the fit used up; the shots
        submitted are saved with the model). ``None``: no budget.
    max_retries : int, default=3
        Retries of a job after a transient fault (connection error, timeout, failed
        runtime job, a result of the wrong shape or with NaN), with exponential backoff
        and jitter; other errors fail at once, and after the last retry a
        :class:`~skqegm.exceptions.QuantumJobError` names every job id. Like
        ``max_shots``, ``job_timeout`` and ``fallback``, it says how jobs run, not what
        they compute: the fitted model's jobs follow its current value.
    job_timeout : float or None, default=None
        Seconds a job may run before it is cancelled and retried; ``None`` waits. The
        fitted model's jobs follow its current value.
    fallback : str, BackendV2, BaseSamplerV2, BaseEstimatorV2 or None, default=None
        A backend you choose, taken only once a job has failed after its retries; it
        then runs the rest of the fit, and the switch is logged and recorded in
        ``provenance_``. The fitted model's jobs follow its current value; a switch
        already made stays until a refit.
    session : bool, default=False
        On a real IBM device, run the fit's jobs in a ``Session`` rather than a
        ``Batch``; either is opened by the fit and closed when it ends (a fake device's
        jobs run in this process, in neither).
    entanglement : {"linear", None}, default="linear"
        The ansatz's CNOT chain, or none: with ``None`` the circuit is a product of
        single qubits and its Born distribution a product of independent bits, a
        control that isolates entanglement (see
        :func:`~skqegm.quantum.hardware_efficient_ansatz`).
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
    network_ : GenerativeNetwork
        The trained torch modules (encoder, latent, decoder).
    quantum_layer_ : SamplerTransformer or None
        The QVL with its trained weights, usable on its own (``transform`` gives the
        outcome probabilities of latent vectors); ``None`` for the classical twin. On a
        Qiskit backend its jobs are the model's: they count against the shots the
        model submitted (``max_shots``), enter its job records, run under the job
        parameters the model's ``set_params`` gives after the fit, and follow its switch
        to ``fallback``.
    loss_curve_ : list of float
        Mean training loss per epoch.
    validation_scores_ : list of float or None
        Minus the validation loss per epoch (greater is better); ``None`` without early
        stopping.
    n_iter_ : int
        Epochs run.
    tail_threshold_ : ndarray of shape (2, n_features)
        Lower (row 0) and upper (row 1) ``tail_fraction`` quantiles of each feature of
        the training data: a row is rare when a feature lies strictly beyond either.
    provenance_ : dict
        What a run needs to be reproduced: backend, shots, seeds, package versions; on a
        Qiskit backend also ``"runtime"``: the device (name, qubits, gates, coupling map,
        calibration time), the transpiler seed, optimisation level and layout, the
        estimated and used shots, and every job (id, shots, retries, wall time).
        Credentials never enter it.

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
        tail_fraction=0.05,
        noise="prng",
        noise_scale=0.1,
        max_epochs=200,
        batch_size=256,
        learning_rate=1e-3,
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=10,
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
        device="cpu",
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
        self.tail_fraction = tail_fraction
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
        self.device = device

    _parameter_constraints = {
        **BaseQEGM._parameter_constraints,
        "tail_fraction": [IntervalNotBool(Real, 0, 0.5, closed="neither")],
    }

    # -- the hooks of the fit loop ------------------------------------------------------------
    def _prepare_fit(self, values, context, seeds):
        super()._prepare_fit(values, context, seeds)
        self.tail_threshold_ = tail_thresholds(values, tail_fraction=self.tail_fraction)

    def _finish_fit(self, train_set, seeds, generator):
        super()._finish_fit(train_set, seeds, generator)
        log_weights, codes = self._latent_mixture
        with torch.no_grad():
            mean, scale = self.network_.decoder(torch.from_numpy(codes))
        self._components = (log_weights, mean.double().numpy(), scale.double().numpy())

    # -- public API ---------------------------------------------------------------------------
    def sample(self, n_samples=1, random_state=None):
        """Draw samples from the fitted model.

        Each draw runs the generative process: a prior latent plus eq. 7 noise, one
        measurement of the QVL (one shot on a Qiskit backend, up to 8,192 draws per call), and
        a draw from the decoded Gaussian. The model is the fitted one: ``set_params`` (of
        the architecture, ``backend``, ``shots``, ``noise`` or ``noise_scale``) changes
        the draws only after a refit; the jobs run under the current ``max_shots``,
        ``max_retries``, ``job_timeout`` and ``fallback``.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples, >= 1.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws (latents, noise, measurement shots); an int gives the same
            samples every time. None uses the estimator's ``random_state``: an
            estimator built with an int gives the same samples at every call, one built
            with None draws afresh.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)

        Notes
        -----
        ``sample(n, random_state=s)`` is the same array at every call, but it is not the
        first ``n`` rows of ``sample(m, random_state=s)`` for ``m > n``: the latents of
        all the draws are drawn before their noise (as in scikit-learn's
        ``KernelDensity.sample``, no prefix property). Draw the largest sample once and
        slice it.
        """
        check_is_fitted(self)
        n_samples = check_int(n_samples, "n_samples", min_value=1)
        n_features = self.n_features_in_
        block = sample_block(self._draw_bytes_per_row())
        # the samples, once drawn and once in data units, and one block's work
        check_memory(16.0 * n_samples * n_features + block * self._draw_bytes_per_row(),
                     f"sample(n_samples={n_samples})", "draw fewer samples per call.")
        jobs = self._fitted_jobs()  # under the current max_shots, max_retries, ...
        rng = draw_random_state(self, random_state)
        # The noise of the fit, on the fit's backend: the network was trained, and its
        # density computed, under it, whatever set_params changed since.
        noise = NoiseSource(fit_param(self, "noise"), fit_param(self, "noise_scale"),
                            self._fitted_backend(), int(rng.randint(np.iinfo(np.int32).max)),
                            jobs=jobs)
        draws = np.empty((n_samples, n_features))
        with self._inference():
            for start in range(0, n_samples, block):
                rows = slice(start, min(start + block, n_samples))
                z = prior_draws(rows.stop - rows.start, self.network_.encoder.n_outputs,
                                noise, rng)
                mean, scale = self._decode_draws(z, rng)
                eps = rng.standard_normal(mean.shape)
                draws[rows] = mean.double().numpy() + scale.double().numpy() * eps
        return self._unstandardize_values(draws)

    def _decode_draws(self, z, rng):
        """The decoded Gaussian of one measurement per latent draw."""
        latent, decoder = self.network_.latent, self.network_.decoder
        if latent.n_codes == 1:  # the twin: a code per draw
            return decoder(latent.sample_codes(z, rng))
        # Every draw's code is one of the 2**n outcomes: decode each outcome once.
        mean, scale = decoder(latent.code_table)
        outcomes = latent.sample_outcomes(z, rng)
        return mean[outcomes], scale[outcomes]

    def _draw_bytes_per_row(self):
        """Memory of one draw's work: latent, outcome probabilities, decoder layers.

        Read from the fitted network, which ``set_params`` does not change until a refit
        (the block size, and so the draws of a seed, follow it).
        """
        latent, decoder = self.network_.latent, self.network_.decoder
        n_outcomes = 0 if latent.n_codes == 1 else latent.n_codes
        hidden = sum(layer.out_features for layer in decoder.net[:-1]
                     if isinstance(layer, torch.nn.Linear))
        return 8 * (4 * self.network_.encoder.n_outputs + 2 * n_outcomes + hidden
                    + 4 * self.n_features_in_)

    def score_samples(self, X):
        """Log-density of the fitted model at each row of ``X``.

        The density is the decoder's Gaussians averaged over 4096 latent draws fixed at
        fit time (``skqegm.models._base.DENSITY_DRAWS``): for the quantum latent a
        mixture of ``2**n_qubits`` Gaussians weighted by the averaged Born probabilities
        (averaged softmax weights for ``latent="categorical"``),
        for the twin a mixture of 4096 Gaussians. Either way it is a normalised density (a
        finite mixture), and it converges to the density that :meth:`sample` draws from as
        the draws grow. The 4096 draws are a Monte Carlo estimate of that density: on
        ``make_tail_mixture(2000)`` (two fits per latent, ten sets of draws each, against
        262,144 draws) the log-density differed by at most 0.004 at the data's median, and
        at their 0.1% and 99.9% quantiles by at most 0.02 for the quantum latent, and for
        the twin, whose draws are spread evenly (a scrambled Sobol sequence), by 0.007
        (0.08 with independent draws); the mean over the data (:meth:`score`) by at most 0.0004.

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
