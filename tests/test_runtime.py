"""Jobs run like production: retries with backoff, timeouts, faults that never become
numbers, a shot budget estimated before the first job, a fallback, and their records."""

import copy
import logging
import pickle

import numpy as np
import pytest
from qiskit.primitives import BaseEstimatorV2, BaseSamplerV2
from qiskit.primitives.containers import (
    BitArray,
    DataBin,
    PrimitiveResult,
    PubResult,
    SamplerPubResult,
)
from qiskit_ibm_runtime.exceptions import RuntimeJobFailureError

from skqegm import QEGMSampler, TailRiskEstimator
from skqegm.exceptions import QuantumJobError, ShotBudgetError
from skqegm.quantum import CircuitRunner, SamplerTransformer, runtime, variational_circuit
from skqegm.quantum.runtime import BACKOFF_BASE_S, JobManager

X = np.random.default_rng(0).normal(size=(20, 1))
SMALL = dict(n_qubits=1, n_layers=1, max_epochs=1, batch_size=20, hidden_layer_sizes=(4,),
             early_stopping=False, random_state=0)


class _Job:
    """A job that finishes at once, fails, or never finishes."""

    def __init__(self, number, result=None, error=None, hangs=False):
        self.number, self._result, self._error, self._hangs = number, result, error, hangs
        self.cancelled = False

    def job_id(self):
        return f"job-{self.number}"

    def done(self):
        return not self._hangs

    def cancel(self):
        self.cancelled = True

    def result(self):
        assert not self._hangs, "a hung job must be cancelled, not waited for"
        if self._error is not None:
            raise self._error
        return self._result


class _Faults:
    """Injects the fault planned for each call, by call number (1-based)."""

    def __init__(self, faults=None):
        self.faults = dict(faults or {})
        self.calls = 0
        self.jobs = []

    def _job(self, make_result):
        self.calls += 1
        fault = self.faults.get(self.calls)
        if fault == "refused":
            raise ConnectionError("connection reset by peer")
        if fault == "invalid":
            raise ValueError("the circuit is not valid")  # not transient
        job = _Job(self.calls, error=RuntimeJobFailureError("Error code 5203") if fault ==
                   "fails" else None, hangs=fault == "hangs")
        if fault not in ("fails", "hangs"):
            job._result = make_result(fault)
        self.jobs.append(job)
        return job


def _values(pub):
    values = np.asarray(pub[-1], dtype=float)
    return values.reshape(-1, values.shape[-1]) if values.size else np.zeros((1, 0))


class FaultySampler(BaseSamplerV2, _Faults):
    """A fast, deterministic sampler (its bits a function of the parameter values) that
    injects faults: refused, fails, hangs, a result of the wrong shape."""

    def __init__(self, faults=None):
        _Faults.__init__(self, faults)

    def run(self, pubs, *, shots=None):
        (pub,) = pubs
        circuit, values = pub[0], _values(pub)

        def make_result(fault):
            n_bits = circuit.num_clbits
            # Fair bits for a circuit without parameters (the QRNG's Hadamards).
            p_one = (0.5 + 0.4 * np.cos(values.sum(axis=1, keepdims=True))
                     if values.shape[1] else np.full((1, 1), 0.5))
            draws = np.random.default_rng(7).random((len(values), shots, n_bits))
            bits = BitArray.from_bool_array(draws < p_one[:, :, None], order="little")
            if fault == "shape":
                bits = bits[:-1] if len(values) > 1 else bits.slice_shots(range(shots - 1))
            return PrimitiveResult([SamplerPubResult(DataBin(meas=bits, shape=bits.shape))])

        return self._job(make_result)


class FaultyEstimator(BaseEstimatorV2, _Faults):
    """A fast, deterministic estimator that injects faults, NaN among them."""

    def __init__(self, faults=None):
        _Faults.__init__(self, faults)

    def run(self, pubs, *, precision=None):
        (pub,) = pubs
        observables, values = pub[1], _values(pub)

        def make_result(fault):
            identity = np.array([[set(obs[0].paulis.to_labels()[0]) == {"I"}]
                                 for obs in observables])
            evs = np.where(identity, 1.0, 0.3 * np.cos(values.sum(axis=1))[None, :])
            if fault == "nan":
                evs[0, 0] = np.nan
            return PrimitiveResult([PubResult(DataBin(evs=evs, shape=evs.shape))])

        return self._job(make_result)


@pytest.fixture
def no_waiting(monkeypatch):
    """Sleeps advance a fake clock instead of waiting; the delays are recorded."""
    clock = {"now": 0.0, "sleeps": []}

    def sleep(seconds):
        clock["sleeps"].append(seconds)
        clock["now"] += seconds

    monkeypatch.setattr(runtime, "_sleep", sleep)
    monkeypatch.setattr(runtime, "_clock", lambda: clock["now"])
    return clock


def _fit(backend, **kwargs):
    return QEGMSampler(backend=backend, **{**SMALL, **kwargs}).fit(X)


@pytest.fixture(scope="module")
def clean_sampler_fit():
    return _fit(FaultySampler(), shots=4)


@pytest.fixture(scope="module")
def clean_estimator_fit():
    return _fit(FaultyEstimator())


# -- retries ---------------------------------------------------------------------------------
@pytest.mark.parametrize("faults", [{1: "refused"}, {2: "fails"}, {1: "shape", 3: "refused"},
                                    {2: "hangs"}],
                         ids=["refused", "fails", "wrong-shape", "hangs"])
def test_a_fit_recovers_from_sampler_faults_with_the_unfaulted_results(
        faults, no_waiting, clean_sampler_fit):
    sampler = FaultySampler(faults)
    model = _fit(sampler, shots=4, job_timeout=30.0)
    assert model.loss_curve_ == clean_sampler_fit.loss_curve_
    np.testing.assert_array_equal(model.score_samples(X), clean_sampler_fit.score_samples(X))
    record = model.provenance_["runtime"]
    assert record["retries"] == len(faults)
    assert record["shots_used"] == clean_sampler_fit.provenance_["runtime"]["shots_used"]
    retried = [job for job in record["jobs"] if job["retries"]]
    assert [job["failed_job_ids"] for job in retried][0][0] in ("not submitted", "job-1",
                                                                "job-2")
    if "hangs" in faults.values():
        assert sampler.jobs[1].cancelled  # the hung job, cancelled after job_timeout
        assert sum(no_waiting["sleeps"][:30]) >= 30.0


def test_a_fit_recovers_from_nan_expectation_values(no_waiting, clean_estimator_fit):
    model = _fit(FaultyEstimator({1: "nan", 2: "nan"}))
    assert model.loss_curve_ == clean_estimator_fit.loss_curve_
    np.testing.assert_array_equal(model.score_samples(X), clean_estimator_fit.score_samples(X))
    assert model.provenance_["runtime"]["retries"] == 2


def test_after_the_last_retry_one_error_names_every_job(no_waiting, caplog):
    caplog.set_level(logging.WARNING, logger="skqegm")
    sampler = FaultySampler({1: "fails", 2: "fails", 3: "shape"})
    with pytest.raises(QuantumJobError, match=r"failed 3 times \(max_retries=2\); job ids: "
                                              r"job-1, job-2, job-3\. Last error: "
                                              r"InvalidResultError") as error:
        _fit(sampler, shots=4, max_retries=2)
    assert error.value.job_ids == ["job-1", "job-2", "job-3"]
    assert sampler.calls == 3
    # Exponential backoff with jitter: about 1 s, then about 2 s.
    first, second = no_waiting["sleeps"]
    assert BACKOFF_BASE_S <= first <= 1.5 * BACKOFF_BASE_S
    assert 2 * BACKOFF_BASE_S <= second <= 3 * BACKOFF_BASE_S
    assert "Retry 2 of 2" in caplog.text


def test_an_error_that_is_not_transient_fails_at_once(no_waiting):
    sampler = FaultySampler({1: "invalid"})
    with pytest.raises(ValueError, match="the circuit is not valid"):
        _fit(sampler, shots=4)
    assert sampler.calls == 1 and no_waiting["sleeps"] == []


def test_a_copy_made_inside_a_fit_opens_no_batch_of_its_own():
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    device, manager = FakeManilaV2(), JobManager()
    with manager.scope():
        batch = manager.mode_for(device)
        copied = copy.deepcopy(manager)
    assert batch is not device and copied.mode_for(device) is device


def test_the_jitter_is_seeded():
    delays = [[JobManager(seed=3).backoff(k) for k in (1, 2, 3, 10)] for _ in range(2)]
    assert delays[0] == delays[1]
    assert delays[0][3] <= 1.5 * runtime.BACKOFF_MAX_S


def test_the_fallback_runs_only_after_the_retries_and_is_recorded(no_waiting,
                                                                   clean_sampler_fit):
    dead = FaultySampler({k: "refused" for k in range(1, 100)})
    model = _fit(dead, shots=4, max_retries=1, fallback=FaultySampler())
    assert dead.calls == 2  # the first job and its retry, then the fallback for the rest
    assert model.loss_curve_ == clean_sampler_fit.loss_curve_
    record = model.provenance_["runtime"]
    assert record["fallback"] == "FaultySampler"
    assert "switched to FaultySampler" in record["fallback_reason"]
    assert all(job["fallback"] for job in record["jobs"])


# -- budget -----------------------------------------------------------------------------------
def test_the_estimate_is_the_shots_a_fit_uses():
    model = _fit(FaultySampler(), shots=4)
    record = model.provenance_["runtime"]
    estimate = QEGMSampler(backend=FaultySampler(), shots=4, **SMALL).estimate_cost(X)
    assert record["shots_used"] == record["shots_estimate"] == estimate["shots"]
    assert record["n_jobs"] == estimate["jobs"] == 2
    # 20 rows and 20 prior draws, 7 circuits each (1 + 2 x 2 weights + 2 x 1 input); then
    # the 4096 draws of the fitted density.
    assert estimate["circuits"] == 40 * 7 + 4096


def test_a_fit_over_budget_is_refused_before_any_job():
    sampler = FaultySampler()
    estimate = QEGMSampler(backend=sampler, shots=4, **SMALL).estimate_cost(X)["shots"]
    with pytest.raises(ShotBudgetError, match=rf"needs an estimated {estimate:,} shots .* "
                                              r"more than max_shots=1,000") as error:
        _fit(sampler, shots=4, max_shots=1000)
    assert sampler.calls == 0 and error.value.estimate == estimate
    _fit(sampler, shots=4, max_shots=estimate)  # exactly the budget: accepted


def test_a_fitted_sampler_draws_under_its_current_max_shots():
    # A fit that used its whole budget left sample() refused for good: the message said
    # "Raise max_shots", but set_params(max_shots=...) after the fit changed nothing.
    sampler = FaultySampler()
    estimate = QEGMSampler(backend=sampler, shots=4, **SMALL).estimate_cost(X)["shots"]
    model = _fit(sampler, shots=4, max_shots=estimate)
    with pytest.raises(ShotBudgetError, match=f"more than max_shots={estimate:,}"):
        model.sample(5, random_state=0)
    model.set_params(max_shots=estimate + 5)
    assert model.sample(5, random_state=0).shape == (5, 1)  # one shot per draw
    with pytest.raises(ShotBudgetError, match=f"more than max_shots={estimate + 5:,}"):
        model.sample(1, random_state=0)
    model.set_params(max_shots=None)
    assert model.sample(5, random_state=0).shape == (5, 1)


def test_a_transformer_refuses_a_job_past_its_budget():
    sampler = FaultySampler()
    qt = SamplerTransformer(n_layers=1, backend=sampler, shots=10, max_shots=50).fit(X)
    qt.transform(X[:4])  # 40 shots
    with pytest.raises(ShotBudgetError, match="needs 40 shots, and 40 were already submitted"):
        qt.transform(X[:4])
    assert sampler.calls == 1
    # How jobs run follows the parameters after the fit (the runner kept the fit's).
    qt.set_params(max_shots=80)
    assert qt.transform(X[:4]).shape == (4, 2)
    # The count survives a copy (a loaded transformer started again from 0).
    for copied in (pickle.loads(pickle.dumps(qt)), copy.deepcopy(qt)):
        with pytest.raises(ShotBudgetError, match="and 80 were already submitted"):
            copied.transform(X[:4])


# -- after the fit: what defines the model is frozen, how its jobs run is not ---------------
@pytest.fixture
def fitted_sampler():
    sampler = FaultySampler()
    return sampler, _fit(sampler, shots=4, max_retries=0)


def test_max_retries_set_after_the_fit_reaches_sample(no_waiting, fitted_sampler):
    # set_params(max_retries=...) after a fit changed nothing: sample kept the fit's 0.
    sampler, model = fitted_sampler
    sampler.faults.update({sampler.calls + 1: "refused", sampler.calls + 2: "fails"})
    model.set_params(max_retries=2)
    assert model.sample(5, random_state=0).shape == (5, 1)
    assert len(no_waiting["sleeps"]) == 2  # two retries, then done
    sampler.faults[sampler.calls + 1] = "refused"
    model.set_params(max_retries=0)
    with pytest.raises(QuantumJobError, match=r"max_retries=0"):
        model.sample(5, random_state=0)


def test_job_timeout_set_after_the_fit_reaches_sample(no_waiting, fitted_sampler):
    # Without it, sample waited for the hung job for ever (the fake job asserts instead).
    sampler, model = fitted_sampler
    sampler.faults[sampler.calls + 1] = "hangs"
    model.set_params(job_timeout=5.0, max_retries=1)
    assert model.sample(5, random_state=0).shape == (5, 1)
    assert sampler.jobs[-2].cancelled and sum(no_waiting["sleeps"]) >= 5.0


def test_fallback_set_after_the_fit_reaches_sample(no_waiting, fitted_sampler):
    sampler, model = fitted_sampler
    sampler.faults.update({k: "refused" for k in range(sampler.calls + 1, 100)})
    spare = FaultySampler()
    model.set_params(fallback=spare)
    draws = model.sample(5, random_state=0)
    assert draws.shape == (5, 1) and spare.calls == 1
    with pytest.raises(ValueError, match="fallback must be a Qiskit backend"):
        model.set_params(fallback="exact").sample(5, random_state=0)


def test_bad_job_parameters_set_after_the_fit_are_named(fitted_sampler):
    _, model = fitted_sampler
    for params in ({"max_retries": -1}, {"job_timeout": 0}, {"max_shots": True}):
        model.set_params(**params)
        with pytest.raises(ValueError, match=f"'{next(iter(params))}' parameter of "
                                             "QEGMSampler"):
            model.sample(5, random_state=0)
        model.set_params(max_retries=0, job_timeout=None, max_shots=None)


def test_backend_and_shots_set_after_the_fit_wait_for_a_refit(fitted_sampler):
    # What defines the fitted distribution stays the fit's: the circuit, and the random
    # bits of noise="qrng" (they were drawn from the new backend).
    for latent in ("quantum", "gaussian"):
        sampler, other = FaultySampler(), FaultySampler()
        model = _fit(sampler, shots=4, latent=latent, noise="qrng")
        calls = sampler.calls
        model.set_params(backend=other, shots=1000)
        model.sample(5, random_state=0)
        assert sampler.calls > calls and other.calls == 0, latent


def test_the_quantum_layer_runs_under_the_models_current_job_parameters():
    # quantum_layer_'s jobs are the model's (one manager), but they ran under the job
    # parameters of the fit: past a max_shots set on the model since, which they also
    # reset on the shared manager (None here) until the model's next call.
    sampler = FaultySampler()
    model = _fit(sampler, shots=4)
    used = model.provenance_["runtime"]["shots_used"]
    model.set_params(max_shots=used, max_retries=0)
    calls = sampler.calls
    for run in (lambda: model.sample(1, random_state=0),
                lambda: model.quantum_layer_.transform(X[:2])):
        with pytest.raises(ShotBudgetError, match=f"more than max_shots={used:,}"):
            run()
    assert sampler.calls == calls
    assert model.quantum_layer_.get_params()["max_retries"] == 0
    loaded = pickle.loads(pickle.dumps(model.set_params(max_shots=used + 8)))
    assert loaded.quantum_layer_.transform(X[:2]).shape == (2, 2)  # 8 shots: the budget
    with pytest.raises(ShotBudgetError, match=f"more than max_shots={used + 8:,}"):
        loaded.sample(1, random_state=0)


def test_a_fallback_switch_is_the_jobs_not_one_runners(no_waiting):
    # The model's runner switched to the fallback; quantum_layer_, a copy sharing the
    # jobs (whose record then said "on the fallback"), kept its fit-time fallback=None
    # and went on failing on the dead backend.
    sampler, spare = FaultySampler(), FaultySampler()
    model = _fit(sampler, shots=4, max_retries=0)
    sampler.faults.update({k: "refused" for k in range(sampler.calls + 1, 100)})
    model.set_params(fallback=spare).sample(2, random_state=0)
    dead_calls, spare_calls = sampler.calls, spare.calls
    assert model.quantum_layer_.transform(X[:2]).shape == (2, 2)
    assert (sampler.calls, spare.calls) == (dead_calls, spare_calls + 1)
    record = model.quantum_layer_.runner_.describe()
    assert record["jobs"][-1]["fallback"] and "switched to" in record["fallback_reason"]


@pytest.mark.filterwarnings("ignore:y has .* rare events:UserWarning")  # 20 rows
def test_conditional_predictions_run_under_the_models_budget_and_parameters():
    # The conditional weights' circuits ran on a copy of the circuit: with jobs of their
    # own (0 shots submitted) under the fit's max_shots, whatever set_params said.
    sampler = FaultySampler()
    params = dict(SMALL, mixture_weights="conditional", backend=sampler, shots=4)
    estimate = TailRiskEstimator(**params).estimate_cost(X)["shots"]
    model = TailRiskEstimator(**params, max_shots=estimate).fit(X, X[:, 0] + X[::-1, 0])
    model.set_params(shots=1000)  # the fitted circuit keeps its 4 shots
    needed = 2 * 256 * 4  # two rows, 256 latent draws each, 4 shots per circuit
    with pytest.raises(ShotBudgetError, match=f"needs {needed:,} shots, and {estimate:,} "
                                              "were already submitted"):
        model.predict(X[:2])
    model.set_params(max_shots=estimate + needed)
    median = model.predict(X[:2])
    with pytest.raises(ShotBudgetError, match=f"{estimate + needed:,} were already"):
        model.predict(X[:2])
    model.set_params(max_shots=None)
    np.testing.assert_array_equal(model.predict(X[:2]), median)  # seeded, deterministic


@pytest.mark.parametrize("latent", ["quantum", "gaussian"])
def test_quantum_random_bits_are_in_the_estimate_the_budget_and_the_record(latent):
    params = dict(SMALL, latent=latent, noise="qrng", backend=FaultySampler(), shots=4)
    cost = QEGMSampler(**params).estimate_cost(X)
    # Two QRNG refills, of 2 and 117 executions of 1,024 shots: 40 floats for the epoch
    # (2,120 bits, 4.4 raw bits each), then 4,096 for the density.
    assert cost["qrng_shots"] == 1024 * (2 + 117) and cost["jobs"] == (4 if latent ==
                                                                        "quantum" else 2)
    with pytest.raises(ShotBudgetError):
        QEGMSampler(**params, max_shots=cost["shots"] - 1).fit(X)
    record = QEGMSampler(**params, max_shots=cost["shots"]).fit(X).provenance_["runtime"]
    assert record["n_jobs"] == cost["jobs"]
    qrng_used = record["shots_used"] - cost["shots"] + cost["qrng_shots"]
    assert 0 < qrng_used <= cost["qrng_shots"]


@pytest.mark.parametrize("latent", ["quantum", "gaussian"])
def test_the_random_bits_of_draws_count_against_the_budget(latent):
    # sample() drew its eq. 7 noise from the backend outside every budget: a fitted
    # twin with max_shots spent submitted thousands of QRNG shots unrefused, and unrecorded.
    model = QEGMSampler(**dict(SMALL, latent=latent, noise="qrng", backend=FaultySampler(),
                               shots=4))
    model.set_params(max_shots=model.estimate_cost(X)["shots"]).fit(X)
    with pytest.raises(ShotBudgetError, match="more than max_shots"):
        model.sample(200, random_state=0)
    model.set_params(max_shots=None)
    assert model.sample(200, random_state=0).shape == (200, 1)


def test_the_exact_backend_costs_nothing():
    cost = TailRiskEstimator(**SMALL).estimate_cost(X)
    assert cost["shots"] == cost["jobs"] == 0


# -- parameters --------------------------------------------------------------------------------
@pytest.mark.parametrize("params, match", [
    ({"max_retries": -1}, "'max_retries' parameter"),
    ({"max_shots": 0}, "'max_shots' parameter"),
    ({"job_timeout": 0}, "'job_timeout' parameter"),
    ({"session": "yes"}, "'session' parameter"),
    ({"fallback": "exact"}, "fallback must be a Qiskit backend"),
])
def test_bad_job_parameters_are_named(params, match):
    with pytest.raises(ValueError, match=match):
        QEGMSampler(backend="aer", shots=4, **{**SMALL, **params}).fit(X)


@pytest.mark.parametrize("params, match", [
    ({"max_retries": -1}, "max_retries must be >= 0"),
    ({"max_retries": 1.5}, "max_retries must be an integer"),
    ({"max_shots": 0}, "max_shots must be >= 1"),
    ({"job_timeout": 0}, "job_timeout must be"),
    ({"job_timeout": float("nan")}, "job_timeout must be"),
])
def test_a_job_manager_names_its_bad_parameters(params, match):
    # max_retries=-1 made no attempt and failed with an IndexError from run().
    with pytest.raises(ValueError, match=match):
        JobManager(**params)


def test_a_runner_without_a_scope_submits_to_the_device_itself():
    qc, inputs, weights = variational_circuit(1, n_layers=1)
    runner = CircuitRunner(FaultySampler(), shots=5)
    runner.sample_outcomes(qc, inputs + weights, np.zeros((3, 3)))
    assert runner.jobs.summary()["n_jobs"] == 1 and runner.jobs.shots_used == 15


# -- qiskit-ibm-runtime's local testing mode: the code path of hardware ------------------------
@pytest.fixture
def local_fit(monkeypatch, caplog):
    """A fit on a fake device taken for hardware, so that it runs the hardware's code path:
    qiskit-ibm-runtime's Sampler (in its local testing mode), in a Batch or Session. (A
    fake device itself samples in this process: see test_fake_device_shots.py.)"""
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    from skqegm.models import _base
    from skqegm.quantum import backends

    monkeypatch.setattr(_base, "DENSITY_DRAWS", 64)  # the fitted density: a small job
    monkeypatch.setattr(backends, "_is_ibm_hardware", lambda device: True)
    caplog.set_level(logging.INFO, logger="skqegm")

    def fit(session):
        caplog.clear()
        return _fit(FakeManilaV2(), shots=8, session=session), caplog.text
    return fit


@pytest.mark.slow
def test_a_fit_on_a_fake_device_runs_in_one_batch_or_session_and_is_recorded(local_fit):
    batch_model, batch_log = local_fit(session=False)
    session_model, session_log = local_fit(session=True)
    for log, mode in ((batch_log, "batch"), (session_log, "session")):
        assert log.count(f"Opened a {mode} on fake_manila") == 1
        assert log.count(f"Closed a {mode}") == 1
    # Hardware takes no seed: the two fits differ, but both ran every job.
    assert len(batch_model.loss_curve_) == len(session_model.loss_curve_)
    record = session_model.provenance_["runtime"]
    assert record["execution_mode"] == "session"
    assert record["device"]["name"] == "fake_manila"
    assert record["device"]["calibration_time"].startswith("2024-05-27")
    assert record["device"]["coupling_map"][:2] == [[0, 1], [1, 0]]
    assert record["optimization_level"] == 1 and isinstance(record["seed_transpiler"], int)
    assert len(record["layout"]) == 1 and record["layout"][0] in range(5)
    assert record["shots_used"] == record["shots_estimate"] == (40 * 7 + 64) * 8
    assert [len(job["job_id"]) for job in record["jobs"]] == [36, 36]  # runtime job ids
    assert all(job["wall_time_s"] >= 0 and job["retries"] == 0 for job in record["jobs"])


def test_a_runner_refuses_more_shots_than_int64_counts_hold():
    with pytest.raises(ValueError, match="shots must be <= 9223372036854775807"):
        CircuitRunner("aer", 2**63, 0)
