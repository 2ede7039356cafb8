"""
===========================================================
Running on IBM hardware, rehearsed on a fake device
===========================================================

A fit on a real IBM device costs shots, queue time and money. skqegm sends every job
through one job manager: on a real device through qiskit-ibm-runtime's Sampler, in one
Batch; on a fake device offline, its shots drawn from the device's exact noisy
probabilities. This example rehearses a hardware run on ``FakeManilaV2``: the cost of
the fit before it starts, a shot budget, the fit's jobs, what ``provenance_`` records,
and readout-error mitigation of sampled probabilities. To run it on hardware, replace
the device by ``QiskitRuntimeService().backend("ibm_...")``.
"""

# %%
# The cost before the first shot
# ------------------------------
# :meth:`~skqegm.QEGMSampler.estimate_cost` counts the circuits, jobs and shots of a
# fit without submitting anything: each training row costs ``1 + 2 n_weights +
# 2 n_qubits`` circuits (parameter shift), each step also evaluates as many prior draws,
# and the fitted density adds 4,096 latent draws. ``max_shots`` refuses a fit over
# budget with this estimate. ``SKQEGM_EXAMPLES_QUICK=1`` shrinks the sizes.
import logging
import os
import pickle
import sys

import matplotlib.pyplot as plt
import numpy as np
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from skqegm import QEGMSampler
from skqegm.datasets import make_tail_mixture
from skqegm.exceptions import ShotBudgetError
from skqegm.quantum import SamplerTransformer

QUICK = os.environ.get("SKQEGM_EXAMPLES_QUICK") == "1"
N_ROWS, MAX_EPOCHS = (40, 1) if QUICK else (200, 3)

device = FakeManilaV2()
X, _ = make_tail_mixture(N_ROWS, random_state=0)
model = QEGMSampler(n_qubits=1, n_layers=1, backend=device, shots=16, max_epochs=MAX_EPOCHS,
                    batch_size=N_ROWS, hidden_layer_sizes=(8,), early_stopping=False,
                    random_state=0)
cost = model.estimate_cost(X)
print(f"estimate: {cost['circuits']:,} circuits x {cost['shots_per_circuit']} shots = "
      f"{cost['shots']:,} shots in {cost['jobs']} jobs")

try:
    model.set_params(max_shots=cost["shots"] // 2).fit(X)
except ShotBudgetError as error:
    print("refused:", str(error)[:110], "...")

# %%
# The fit and its record
# ----------------------
# With the budget raised, the fit runs its jobs (on hardware, in one Batch that it opens
# and closes; a fake device runs them in this process). Transient faults (connection
# errors, timeouts, failed jobs, results of the wrong shape or with NaN) are retried
# ``max_retries`` times with exponential backoff; ``job_timeout`` cancels a job that
# hangs. Events go to the ``skqegm`` logger.
logging.basicConfig(stream=sys.stdout, format="%(name)s: %(message)s")
logging.getLogger("skqegm").setLevel(logging.INFO)
model.set_params(max_shots=cost["shots"], max_retries=3, job_timeout=600).fit(X)
logging.getLogger("skqegm").setLevel(logging.WARNING)

record = model.provenance_["runtime"]
print(f"device {record['device']['name']}, calibrated {record['device']['calibration_time']}")
print(f"transpiled with seed {record['seed_transpiler']} at optimization level "
      f"{record['optimization_level']} onto qubits {record['layout']}")
print(f"{record['shots_used']:,} shots used (estimate {record['shots_estimate']:,}) in "
      f"{record['n_jobs']} jobs, {record['retries']} retries, {record['wall_time_s']:.1f} s")
for job in record["jobs"]:
    print(f"  job {job['job_id']}: {job['shots']:,} shots, {job['wall_time_s']:.1f} s")

# %%
# A saved model keeps no credentials
# ----------------------------------
# A real device's service holds the account's token. Pickle, joblib and skops files
# keep a :class:`~skqegm.quantum.DeviceRecord` in its place (name, qubits, gates,
# coupling map, calibration time). After loading, ``score_samples`` works offline;
# drawing samples needs the device again: ``loaded.set_params(backend=device)``. A
# fake device holds no account, so it is saved as it is.
loaded = pickle.loads(pickle.dumps(model))
print("loaded backend:", loaded.get_params()["backend"].name)
print("same density:", np.array_equal(loaded.score_samples(X), model.score_samples(X)))

# %%
# Readout-error mitigation
# ------------------------
# The device misreads each qubit (a fake device with the readout errors of its noise
# model). ``SamplerTransformer(readout_mitigation=True)`` undoes these errors in sampled
# probabilities, qubit by qubit (tensored assignment matrices). We compare the total
# variation distance from the noiseless probabilities, with and without it.
Z = np.random.default_rng(0).uniform(0, np.pi, size=(10 if QUICK else 40, 3))
noiseless = SamplerTransformer(n_layers=1, random_state=0).fit(Z).transform(Z)
distance = {}
for mitigate in (False, True):
    qt = SamplerTransformer(n_layers=1, backend=device, shots=20_000, random_state=0,
                            readout_mitigation=mitigate).fit(Z)
    distance[mitigate] = 0.5 * np.abs(qt.transform(Z) - noiseless).sum(axis=1)
    print(f"readout_mitigation={mitigate}: mean distance {distance[mitigate].mean():.4f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.bar(["sampled", "mitigated"], [distance[False].mean(), distance[True].mean()],
       yerr=[distance[False].std(), distance[True].std()], color=["tab:gray", "tab:blue"])
ax.set_ylabel("total variation from noiseless")
ax.set_title("3 qubits on FakeManilaV2, 20,000 shots per row")
fig.tight_layout()
plt.show()
