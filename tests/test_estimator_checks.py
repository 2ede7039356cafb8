"""scikit-learn's estimator checks on every estimator of the package, with default
parameters, and sklearn's parameter-validation check on every one of them.

Each expected failure is listed with its reason.
"""

import numpy as np
import pytest
from qiskit_ibm_runtime.fake_provider import FakeManilaV2
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_param_validation,
    estimator_checks_generator,
    parametrize_with_checks,
)

from skqegm import QEGMSampler, TailRiskEstimator
from skqegm.baselines import (
    DiffusionSampler,
    EWMARiskEstimator,
    GANSampler,
    GARCHRiskEstimator,
    GPDTailSampler,
    HistoricalSimulation,
    StudentTSampler,
    VAESampler,
)
from skqegm.models import FilteredRiskEstimator
from skqegm.preprocessing import QuantileTailLabeler, SigmaThresholdLabeler
from skqegm.quantum import EstimatorTransformer, SamplerTransformer

# Every estimator and transformer, as a user first meets it: default parameters.
DEFAULTS = [
    SigmaThresholdLabeler(),
    QuantileTailLabeler(),
    EstimatorTransformer(),
    SamplerTransformer(),
    QEGMSampler(),
    TailRiskEstimator(),
    GANSampler(),
    VAESampler(),
    DiffusionSampler(),
    StudentTSampler(),
    GPDTailSampler(),
    GARCHRiskEstimator(),
    EWMARiskEstimator(),
    HistoricalSimulation(),
]
# The options that change what the checks exercise; small networks keep them fast.
FAST = dict(max_epochs=2, hidden_layer_sizes=(8,), random_state=0)
VARIANTS = [
    SigmaThresholdLabeler(k=1.0, side="both"),
    QuantileTailLabeler(tail_fraction=0.1, side="both"),
    EstimatorTransformer(encoding="amplitude", n_layers=1),
    SamplerTransformer(shots=256),
    EstimatorTransformer(backend="aer", n_layers=1),
    QEGMSampler(latent="gaussian", **FAST),
    QEGMSampler(latent="categorical", **FAST),
    QEGMSampler(entanglement=None, n_qubits=2, **FAST),
    SamplerTransformer(entanglement=None, n_layers=1),
    TailRiskEstimator(latent="gaussian", tail_rule="sigma", k=0.5, side="upper", **FAST),
    TailRiskEstimator(latent="categorical", **FAST),
    TailRiskEstimator(mixture_weights="conditional", n_qubits=2, **FAST),
    TailRiskEstimator(latent="categorical", mixture_weights="conditional", **FAST),
    TailRiskEstimator(latent="gaussian", mixture_weights="conditional", **FAST),
    GPDTailSampler(body="empirical"),
    GARCHRiskEstimator(o=1, dist="skewt", method="fhs"),
    GARCHRiskEstimator(method="evt", tail_fraction=0.45),
    EWMARiskEstimator(decay=0.97, method="fhs"),
    HistoricalSimulation(window=5),
    FilteredRiskEstimator(TailRiskEstimator(latent="gaussian", **FAST), GARCHRiskEstimator()),
    # "auto": the GPU where torch sees one (the fitted model comes back to the CPU).
    VAESampler(device="auto", **FAST),
    EstimatorTransformer(device="auto", n_layers=1),
]

AMPLITUDE_FAILURES = {
    "check_estimators_dtypes": (
        "the check's integer data contains an all-zero row, which has no amplitude "
        "encoding (a zero vector is no quantum state): we raise instead of returning NaN"
    ),
}
SHOTS_FAILURES = {
    check: (
        "with shots, each row's frequencies are a draw from the batch's seeded random "
        "stream, so a row's draw depends on its position in the batch"
    )
    for check in ("check_methods_sample_order_invariance", "check_methods_subset_invariance")
}
# HistoricalSimulation() needs window=250 training rows, more than these checks' data
# have; HistoricalSimulation(window=5) among the VARIANTS runs every one of them.
SHORT_DATA_CHECKS = (
    "check_dict_unchanged", "check_dont_overwrite_parameters", "check_dtype_object",
    "check_estimators_dtypes", "check_estimators_fit_returns_self", "check_estimators_nan_inf",
    "check_estimators_overwrite_params", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_fit2d_1feature", "check_fit2d_predict1d",
    "check_fit_check_is_fitted", "check_fit_idempotent", "check_fit_score_takes_y",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance",
    "check_n_features_in", "check_n_features_in_after_fitting", "check_pipeline_consistency",
    "check_positive_only_tag_during_fit", "check_readonly_memmap_input",
)
WINDOW_FAILURES = {
    check: "the check's data have fewer rows than window=250, which fit refuses"
    for check in SHORT_DATA_CHECKS
}

# GARCHRiskEstimator(method="evt") fits a generalized Pareto law to at least 5 residual
# losses beyond its threshold: these two checks fit 10 rows, whose tail (tail_fraction <
# 0.5) holds at most 4. The other checks' data are long enough.
EVT_FAILURES = {
    check: "the check's 10 rows leave at most 4 residual losses beyond the threshold, "
           "fewer than the generalized Pareto fit needs, which fit refuses"
    for check in ("check_estimators_nan_inf", "check_fit2d_1feature")
}


def expected_failed_checks(estimator):
    failures = {}
    if getattr(estimator, "method", None) == "evt":
        failures.update(EVT_FAILURES)
    if isinstance(estimator, HistoricalSimulation) and estimator.window > 10:
        failures.update(WINDOW_FAILURES)
    if getattr(estimator, "encoding", None) == "amplitude":
        failures.update(AMPLITUDE_FAILURES)
    if getattr(estimator, "shots", None) is not None:
        failures.update(SHOTS_FAILURES)
    return failures


@parametrize_with_checks(DEFAULTS + VARIANTS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# A fake IBM device (5 qubits, a line): the exact noisy path (shots=None) through every
# check. Its ids name the device, not the object's address (pytest-xdist workers must
# collect the same ids), so it is parametrized here rather than in VARIANTS. The device's
# noise is built once per process (noisy_simulator.device_noise), not per fitted
# transformer: the 47 checks took 4-5 s rather than 20-23 s (summed, load 6-8 on 2 cores).
FAKE_DEVICE = EstimatorTransformer(backend=FakeManilaV2(), n_layers=1)
FAKE_DEVICE_FAILURES = {
    "check_estimators_overwrite_params": (
        "Qiskit's fake device loads its calibration and builds its Target, coupling map "
        "and properties on first read (even of num_qubits) and caches them on the object, "
        "so its joblib hash changes during fit; nothing the device means changes (its "
        "options are untouched)"
    ),
    **{check: "the check's X has 10 features, so the angle encoding needs 10 qubits; "
              "the device has 5, which fit refuses, naming both"
       for check in ("check_dtype_object", "check_fit2d_1sample")},
}


def _fake_device_checks():
    # check_dataframe_column_names_consistency is left out: its X has 8 features, so 8
    # qubits (the exact path's column-name handling is the same, checked on the defaults).
    return list(estimator_checks_generator(
        FAKE_DEVICE, expected_failed_checks=FAKE_DEVICE_FAILURES, mark="xfail"))


def _check_name(item):
    check = getattr(item, "func", item)
    return getattr(check, "__name__", None)


@pytest.mark.parametrize(
    "estimator, check", _fake_device_checks(),
    ids=lambda item: _check_name(item) or "EstimatorTransformer(backend=FakeManilaV2())")
def test_sklearn_compatible_on_fake_device(estimator, check):
    check(estimator)


# check_estimator does not run these two: call them explicitly.
# FilteredRiskEstimator() fits TailRiskEstimator() after a GJR-GARCH filter: its checks
# run on the fast variant among the VARIANTS, its parameter validation here.
@pytest.mark.parametrize("estimator", DEFAULTS + [FilteredRiskEstimator()], ids=repr)
def test_parameters_are_validated_by_sklearn(estimator):
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", DEFAULTS + VARIANTS, ids=repr)
def test_dataframe_column_names_consistency(estimator):
    if "check_fit_idempotent" in expected_failed_checks(estimator):
        # HistoricalSimulation(window=250) refuses the check's 150 rows, saying why;
        # HistoricalSimulation(window=5) among the VARIANTS runs the check itself.
        X = np.random.default_rng(0).normal(size=(150, 1))
        with pytest.raises(ValueError, match="at least 250 training rows.*n_samples=150"):
            clone(estimator).fit(X, X[:, 0])
        return
    check_dataframe_column_names_consistency(type(estimator).__name__, estimator)


def _numeric_parameters(estimator):
    """The parameters whose constraints hold a numeric interval (``Interval`` or ours)."""
    from sklearn.utils._param_validation import Interval

    return [name for name, constraints in estimator._parameter_constraints.items()
            if any(isinstance(c, Interval) for c in constraints)]


@pytest.mark.parametrize("estimator", DEFAULTS, ids=repr)
def test_numeric_parameters_refuse_booleans(estimator):
    # scikit-learn's Interval(Integral) takes True as 1 (bool is an int in Python):
    # learning_rate=True or max_retries=True fitted silently with 1.
    names = _numeric_parameters(estimator)
    assert names, "every estimator of the package has a numeric parameter"
    X = np.random.default_rng(0).normal(size=(300, 2))
    for name in names:
        for value in (True, np.False_):
            model = clone(estimator).set_params(**{name: value})
            with pytest.raises(ValueError, match=rf"'{name}' parameter .*\(not a bool\)"):
                model.fit(X, X[:, 0])
    if "hidden_layer_sizes" in names:  # a boolean among the layers, too
        model = clone(estimator).set_params(hidden_layer_sizes=(8, True))
        with pytest.raises(ValueError, match=r"hidden_layer_sizes must be an int >= 1"):
            model.fit(X, X[:, 0])


def test_the_sampler_checks_refuse_what_their_docstrings_rule_out():
    # check_sampler_sample_shape promises "a finite float array": integer draws passed;
    # check_sampler_score met a score_samples without score with an AttributeError.
    from skqegm.utils.estimator_checks import check_sampler_sample_shape, check_sampler_score

    class Rounded(GPDTailSampler):
        def sample(self, n_samples=1, random_state=None):
            return np.rint(super().sample(n_samples, random_state)).astype(int)

    with pytest.raises(AssertionError, match=r"Rounded.sample returned dtype int64, not a "
                                             "float dtype"):
        check_sampler_sample_shape("Rounded", Rounded())

    class Unscored(StudentTSampler):
        score = property(lambda self: self.__getattribute__("no_such_attribute"))

    with pytest.raises(AssertionError, match="Unscored has score_samples but no score"):
        check_sampler_score("Unscored", Unscored())
