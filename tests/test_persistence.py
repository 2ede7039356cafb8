"""Every fitted estimator survives pickle, joblib and skops.io with identical results."""

import io
import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone

from skqegm import FilteredRiskEstimator, QEGMSampler, TailRiskEstimator
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
from skqegm.datasets import make_tail_mixture
from skqegm.exceptions import ShotBudgetError
from skqegm.preprocessing import QuantileTailLabeler, SigmaThresholdLabeler
from skqegm.quantum import EstimatorTransformer, SamplerTransformer

sio = pytest.importorskip("skops.io")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X_MIX = make_tail_mixture(600, random_state=0)[0]
RNG = np.random.default_rng(0)
X_RISK = RNG.uniform(-1, 1, size=(600, 2))
Y_RISK = np.exp(X_RISK[:, 0]) * RNG.standard_t(4, size=600)
FAST = dict(max_epochs=3, hidden_layer_sizes=(8,), random_state=0)

SAMPLERS = [
    QEGMSampler(**FAST),
    QEGMSampler(latent="gaussian", **FAST),
    QEGMSampler(latent="categorical", **FAST),
    QEGMSampler(entanglement=None, **FAST),
    QEGMSampler(n_qubits=2, n_layers=1, backend="aer", shots=16, max_epochs=1,
                hidden_layer_sizes=(4,), random_state=0),
    GANSampler(**FAST),
    VAESampler(**FAST),
    DiffusionSampler(n_steps=10, **FAST),
    StudentTSampler(),
    GPDTailSampler(),
    GPDTailSampler(body="empirical"),
]
TRANSFORMERS = [
    SigmaThresholdLabeler(),
    QuantileTailLabeler(side="both"),
    EstimatorTransformer(random_state=0),
    SamplerTransformer(encoding="amplitude", random_state=0),
    SamplerTransformer(entanglement=None, random_state=0),
    EstimatorTransformer(backend="aer", shots=64, random_state=0),
]


def _outputs(model, X):
    """What a fitted model computes, seeded where it draws."""
    out = {}
    for method in ("score_samples", "transform", "predict", "predict_rare",
                   "predict_tail_proba", "predict_interval", "predict_var", "predict_es"):
        if hasattr(model, method):
            out[method] = getattr(model, method)(X)
    if hasattr(model, "sample"):
        out["sample"] = model.sample(50, random_state=3)
    if hasattr(model, "sample_y"):
        out["sample_y"] = model.sample_y(X[:5], 20, random_state=3)
    return out


def _round_trips(model):
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    data = sio.dumps(model)
    untrusted = sio.get_untrusted_types(data=data)
    return {
        "pickle": pickle.loads(pickle.dumps(model)),
        "joblib": joblib.load(buffer),
        "skops": sio.loads(data, trusted=untrusted),
    }, untrusted


def _check(model, X):
    expected = _outputs(model, X)
    restored, untrusted = _round_trips(model)
    # skops must be told only about skqegm's own classes: no torch, qiskit or numpy
    # internals travel in the file.
    assert untrusted and all(name.startswith("skqegm.") for name in untrusted), untrusted
    for how, copy in restored.items():
        got = _outputs(copy, X)
        assert got.keys() == expected.keys(), how
        for method in expected:
            np.testing.assert_array_equal(got[method], expected[method],
                                          err_msg=f"{how}: {method}")


@pytest.mark.parametrize("model", SAMPLERS, ids=repr)
def test_samplers_round_trip(model):
    _check(model.fit(X_MIX[:200] if model.get_params().get("backend") else X_MIX), X_MIX[:40])


@pytest.mark.parametrize("latent", ["quantum", "categorical", "gaussian"])
def test_tail_risk_estimator_round_trips(latent):
    _check(TailRiskEstimator(latent=latent, **FAST).fit(X_RISK, Y_RISK), X_RISK[:40])


@pytest.mark.parametrize("model", [GARCHRiskEstimator(o=1, dist="skewt"),
                                   GARCHRiskEstimator(method="fhs"),
                                   GARCHRiskEstimator(method="evt"),
                                   EWMARiskEstimator(),
                                   EWMARiskEstimator(method="fhs"),
                                   HistoricalSimulation(window=100)], ids=repr)
def test_risk_baselines_round_trip(model):
    returns = Y_RISK / 100
    X, y = returns[:-1, None], returns[1:]
    _check(model.fit(X[:500], y[:500]), X[500:])


def test_filtered_risk_estimator_round_trips():
    pytest.importorskip("arch")
    returns = Y_RISK / 100
    X, y = np.column_stack([returns[:-1], np.abs(returns[:-1])]), returns[1:]
    model = FilteredRiskEstimator(TailRiskEstimator(**FAST), GARCHRiskEstimator(o=1))
    _check(model.fit(X[:500], y[:500]), X[500:])


def test_filtered_risk_estimator_with_ewma_round_trips():
    returns = Y_RISK / 100
    X, y = np.column_stack([returns[:-1], np.abs(returns[:-1])]), returns[1:]
    model = FilteredRiskEstimator(TailRiskEstimator(**FAST), EWMARiskEstimator())
    _check(model.fit(X[:500], y[:500]), X[500:])


@pytest.mark.parametrize("model", TRANSFORMERS, ids=repr)
def test_transformers_round_trip(model):
    X = np.abs(X_RISK) + 0.1  # positive rows: every encoding accepts them
    _check(model.fit(X), X[:40])


def test_a_loaded_model_trains_again_and_keeps_its_network_apart():
    model = QEGMSampler(**FAST).fit(X_MIX)
    restored = sio.loads(sio.dumps(model), trusted=sio.get_untrusted_types(
        data=sio.dumps(model)))
    # The rebuilt network is the trained one, not a fresh initialisation...
    for (name, a), b in zip(model.network_.state_dict().items(),
                            restored.network_.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    # ...and refitting the copy leaves the original alone.
    before = model.sample(20, random_state=0)
    restored.set_params(max_epochs=1).fit(X_MIX[:100])
    np.testing.assert_array_equal(model.sample(20, random_state=0), before)


def test_pickling_leaves_the_fitted_model_usable():
    # __getstate__ must copy, not replace, the live network.
    model = VAESampler(**FAST).fit(X_MIX)
    pickle.dumps(model)
    assert hasattr(model.network_, "state_dict")
    assert model.sample(3, random_state=0).shape == (3, 1)


@pytest.mark.parametrize("model, change", [
    (QEGMSampler(**FAST), dict(n_qubits=2, hidden_layer_sizes=(16,))),
    (QEGMSampler(**FAST), dict(encoding="amplitude")),
    (TailRiskEstimator(**FAST), dict(mixture_weights="conditional", n_qubits=2)),
    (TailRiskEstimator(mixture_weights="conditional", **FAST), dict(latent="gaussian")),
    (VAESampler(**FAST), dict(hidden_layer_sizes=(4, 4))),
], ids=["sampler", "encoding", "tail_risk", "tail_risk_latent", "vae"])
def test_a_fitted_model_keeps_its_architecture_after_set_params(model, change):
    # A fitted model whose architecture parameters were changed before saving wrote a
    # file that failed to load (the network was rebuilt from the new parameters: a
    # size mismatch), and QEGMSampler.sample drew latents of the new n_qubits.
    X = X_RISK if isinstance(model, TailRiskEstimator) else X_MIX
    model.fit(X, Y_RISK) if isinstance(model, TailRiskEstimator) else model.fit(X)
    expected = _outputs(model, X[:40])
    model.set_params(**change)
    restored, _ = _round_trips(model)
    for how, copy in [("in memory", model), *restored.items()]:
        got = _outputs(copy, X[:40])
        for method in expected:
            np.testing.assert_array_equal(got[method], expected[method],
                                          err_msg=f"{how}: {method}")
        assert copy.get_params()[next(iter(change))] == change[next(iter(change))]
    # A refit applies the new parameters.
    model.set_params(max_epochs=1)
    model.fit(X, Y_RISK) if isinstance(model, TailRiskEstimator) else model.fit(X)
    rebuilt = pickle.loads(pickle.dumps(model))
    assert [t.shape for t in rebuilt.network_.state_dict().values()] != \
        [t.shape for t in copy.network_.state_dict().values()]


@pytest.mark.parametrize("shots", [16, None], ids=["sampled", "exact_noisy"])
def test_a_model_fitted_on_a_fake_device_pickles_but_skops_cannot_store_the_device(shots):
    # The fake device is a parameter (a Qiskit object): pickle and joblib keep it, and the
    # reloaded model draws and scores as fitted; skops cannot store it (see
    # doc/getting_started.rst, "Saving a fitted model").
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    model = QEGMSampler(n_qubits=2, n_layers=1, backend=FakeManilaV2(), shots=shots,
                        max_epochs=1, hidden_layer_sizes=(4,), random_state=0).fit(X_MIX[:100])
    expected = _outputs(model, X_MIX[:20])
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    for how, copy in [("pickle", pickle.loads(pickle.dumps(model))),
                      ("joblib", joblib.load(buffer))]:
        assert copy.get_params()["backend"].name == "fake_manila"
        for method, values in _outputs(copy, X_MIX[:20]).items():
            np.testing.assert_array_equal(values, expected[method], err_msg=f"{how}: {method}")
    # Refused at once, by name and with the way out (it failed deep inside skops, with
    # "cannot pickle 'complex' object"); the in-memory model is left as it was.
    with pytest.raises(TypeError, match="skops.io cannot store QEGMSampler's backend "
                                        "fake_manila .* Save it with pickle or joblib"):
        sio.dumps(model)
    with pytest.raises(TypeError, match="SamplerTransformer's backend fake_manila"):
        sio.dumps(model.quantum_layer_)
    for method, values in _outputs(model, X_MIX[:20]).items():
        np.testing.assert_array_equal(values, expected[method], err_msg=method)


def test_a_primitive_that_skops_stores_is_not_refused():
    from qiskit.primitives import StatevectorSampler

    model = QEGMSampler(n_qubits=1, n_layers=1, backend=StatevectorSampler(), shots=4,
                        max_epochs=1, hidden_layer_sizes=(4,), random_state=0).fit(X_MIX[:40])
    data = sio.dumps(model)
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    assert type(loaded.backend).__name__ == "StatevectorSampler"
    np.testing.assert_array_equal(loaded.score_samples(X_MIX[:20]),
                                  model.score_samples(X_MIX[:20]))


@pytest.mark.parametrize("latent, noise", [("quantum", "prng"), ("gaussian", "qrng")])
def test_the_shots_submitted_survive_saving(latent, noise):
    # The count that max_shots budgets against: a loaded quantum-latent model started
    # again from 0 (its circuit's runner is rebuilt, with a new job manager), so a spent
    # budget was spent again; the twin's random bits kept theirs.
    model = QEGMSampler(n_qubits=1, n_layers=1, backend="aer", shots=4, latent=latent,
                        noise=noise, max_epochs=1, hidden_layer_sizes=(4,),
                        early_stopping=False, random_state=0).fit(X_MIX[:20])
    submitted = model.provenance_["runtime"]["shots_submitted"]
    model.set_params(max_shots=submitted)  # spent
    restored, _ = _round_trips(model)
    for how, copy in [("in memory", model), *restored.items()]:
        with pytest.raises(ShotBudgetError, match=f"and {submitted:,} were already submitted"):
            copy.sample(5, random_state=0)
        copy.set_params(max_shots=None)
        assert copy.sample(5, random_state=0).shape == (5, 1), how


def test_the_jobs_of_quantum_layer_are_the_models_saved_or_not():
    # quantum_layer_ runs the fitted model's circuit, so its jobs count against the model's
    # max_shots and enter its records, as the model's own do. It was a copy with a count
    # of its own until the model was saved and loaded; then it was the network's own
    # transformer, which the model's calls set_params on and its refit broke.
    model = QEGMSampler(n_qubits=1, n_layers=1, backend="aer", shots=4, max_epochs=1,
                        hidden_layer_sizes=(4,), early_stopping=False,
                        random_state=0).fit(X_MIX[:20])
    model.quantum_layer_.set_params(max_retries=0)  # the handle's own, saved as set
    restored, _ = _round_trips(model)
    loaded, layer = pickle.loads(pickle.dumps((model, model.quantum_layer_)))
    assert loaded.quantum_layer_ is layer
    for how, copy in [("in memory", model), *restored.items()]:
        layer = copy.quantum_layer_
        before = layer.runner_.describe()
        layer.transform(np.zeros((3, 1)))  # 3 rows of 4 shots
        submitted = before["shots_submitted"] + 12
        copy.set_params(max_shots=submitted)  # spent, by the layer's job too
        with pytest.raises(ShotBudgetError, match=f"and {submitted:,} were already submitted"):
            copy.sample(5, random_state=0)
        copy.set_params(max_shots=None)
        copy.sample(5, random_state=0)  # the model's job, in the layer's records
        assert layer.runner_.describe()["n_jobs"] == before["n_jobs"] + 2, how
        assert layer.get_params()["max_retries"] == 0, how
        # A clone is unfitted and independent; a refit of the handle leaves the model's
        # circuit (and its count) as they were.
        submitted = layer.runner_.describe()["shots_submitted"]
        clone(layer).fit(np.zeros((2, 1))).transform(np.zeros((2, 1)))
        assert layer.runner_.describe()["shots_submitted"] == submitted, how
        layer.set_params(backend=None, shots=None).fit(np.zeros((2, 1)))
        copy.set_params(max_shots=submitted)
        with pytest.raises(ShotBudgetError, match=f"and {submitted:,} were already submitted"):
            copy.sample(5, random_state=0)
        assert copy.set_params(max_shots=None).sample(5, random_state=0).shape == (5, 1), how
