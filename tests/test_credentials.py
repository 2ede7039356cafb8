"""No credential of a device's service leaves the process: pickle, joblib, skops, repr,
provenance_ and logs are searched for a token planted in a stand-in IBM service."""

import io
import logging
import pickle

import joblib
import numpy as np
import pytest
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from skqegm import QEGMSampler
from skqegm.exceptions import ShotBudgetError
from skqegm.quantum import DeviceRecord, SamplerTransformer
from skqegm.quantum.runtime import carries_credentials, detach_backend

sio = pytest.importorskip("skops.io")

TOKEN = "SECRET-TOKEN-3f9a1c7e"


class _Account:
    def __init__(self, token):
        self.token = token
        self.channel = "ibm_quantum_platform"


class _Service:
    """Shaped as QiskitRuntimeService: the account, and its token, inside."""

    def __init__(self, token):
        self._account = _Account(token)


class StandInBackend(FakeManilaV2):
    """An IBMBackend-shaped device: a service holding an account; runs locally."""

    def __init__(self):
        super().__init__()
        self._service = _Service(TOKEN)

    @property
    def service(self):
        return self._service


X = np.random.default_rng(0).normal(size=(24, 1))


def _outputs(estimator, caplog):
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    return {
        "pickle": pickle.dumps(estimator),
        "joblib": buffer.getvalue(),
        "skops": sio.dumps(estimator),
        "repr": repr(estimator).encode(),
        "provenance_": repr(getattr(estimator, "provenance_", None)).encode(),
        "logs": caplog.text.encode(),
    }


def _assert_no_token(outputs):
    for where, data in outputs.items():
        assert TOKEN.encode() not in data, where


def test_the_stand_in_carries_its_token_and_a_fake_device_does_not():
    backend = StandInBackend()
    assert carries_credentials(backend) and not carries_credentials(FakeManilaV2())
    assert TOKEN.encode() in pickle.dumps(backend)  # what leaked before
    record = detach_backend(backend)
    assert isinstance(record, DeviceRecord) and record.name == "fake_manila"
    assert record.num_qubits == 5 and record.calibration_time.startswith("2024-05-27")
    assert TOKEN.encode() not in pickle.dumps(record)


def test_a_model_fitted_on_a_device_with_credentials_keeps_none(caplog):
    caplog.set_level(logging.DEBUG)
    backend = StandInBackend()
    model = QEGMSampler(n_qubits=1, n_layers=1, backend=backend, max_epochs=1,
                        hidden_layer_sizes=(4,), early_stopping=False, random_state=0).fit(X)
    outputs = _outputs(model, caplog)
    _assert_no_token(outputs)
    assert model.provenance_["runtime"]["device"]["name"] == "fake_manila"

    loaded = pickle.loads(outputs["pickle"])
    assert loaded.get_params()["backend"] == DeviceRecord.from_backend(backend)
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    with pytest.raises(ValueError, match=r"Re-attach it with set_params\(backend="):
        loaded.sample(5, random_state=0)
    loaded.set_params(backend=backend)
    np.testing.assert_array_equal(loaded.sample(5, random_state=0),
                                  model.sample(5, random_state=0))


def test_skops_loads_a_detached_model_with_skqegm_types_only():
    model = QEGMSampler(n_qubits=1, n_layers=1, backend=StandInBackend(), max_epochs=1,
                        hidden_layer_sizes=(4,), early_stopping=False, random_state=0).fit(X)
    data = sio.dumps(model)
    untrusted = sio.get_untrusted_types(data=data)
    assert all(name.startswith("skqegm.") for name in untrusted), untrusted
    loaded = sio.loads(data, trusted=untrusted)
    assert isinstance(loaded.backend, DeviceRecord)


def test_a_transformer_on_a_device_with_credentials_keeps_none(caplog):
    caplog.set_level(logging.DEBUG)
    backend = StandInBackend()
    qt = SamplerTransformer(n_layers=1, backend=backend, shots=64, random_state=0).fit(X)
    expected = qt.transform(X[:4])
    outputs = _outputs(qt, caplog)
    _assert_no_token(outputs)
    loaded = pickle.loads(outputs["pickle"])
    with pytest.raises(ValueError, match="'fake_manila' was not saved with the model"):
        loaded.transform(X[:4])
    np.testing.assert_array_equal(loaded.set_params(backend=backend).transform(X[:4]),
                                  expected)


def test_a_reattached_device_keeps_the_count_of_shots_submitted():
    # The count max_shots budgets against survives saving, and re-attaching the device
    # (which rebuilds the circuit's runner) goes on with it.
    backend = StandInBackend()
    model = QEGMSampler(n_qubits=1, n_layers=1, backend=backend, shots=4, max_epochs=1,
                        hidden_layer_sizes=(4,), early_stopping=False, random_state=0).fit(X)
    submitted = model.provenance_["runtime"]["shots_submitted"]
    loaded = pickle.loads(pickle.dumps(model))
    loaded.set_params(backend=backend, max_shots=submitted)
    with pytest.raises(ShotBudgetError, match=f"and {submitted:,} were already submitted"):
        loaded.sample(5, random_state=0)
    loaded.set_params(max_shots=None)
    np.testing.assert_array_equal(loaded.sample(5, random_state=0),
                                  model.sample(5, random_state=0))


def test_the_quantum_layer_of_a_model_fitted_on_a_device_with_credentials_runs():
    # quantum_layer_ is a copy of the fitted circuit, made through its saved state, which
    # keeps the device as its description: in memory it refused to run ("not saved with
    # the model"). Its jobs are the model's (one record, one count against max_shots).
    backend = StandInBackend()
    model = QEGMSampler(n_qubits=1, n_layers=1, backend=backend, shots=4, max_epochs=1,
                        hidden_layer_sizes=(4,), early_stopping=False, random_state=0).fit(X)
    layer = model.quantum_layer_
    assert layer.get_params()["backend"] is backend
    assert layer.transform(X[:2]).shape == (2, 2)
    assert layer.runner_.describe()["n_jobs"] == model.provenance_["runtime"]["n_jobs"] + 1
    _assert_no_token({"pickle": pickle.dumps(model), "layer": pickle.dumps(layer)})
    # Loaded, it is re-attached as the model is, with its own set_params.
    loaded = pickle.loads(pickle.dumps(model))
    loaded.set_params(backend=backend).sample(5, random_state=0)
    n_jobs = loaded.quantum_layer_.runner_.describe()["n_jobs"]
    assert n_jobs == layer.runner_.describe()["n_jobs"] + 1
    loaded.quantum_layer_.set_params(backend=backend).transform(X[:2])
    assert loaded.quantum_layer_.runner_.describe()["n_jobs"] == n_jobs + 1
