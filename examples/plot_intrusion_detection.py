"""
============================================================
Network intrusions: generative rarity vs an isolation forest
============================================================

The paper's cybersecurity domain treats attacks as rare events among network connections.
A generative model trained on normal traffic gives every connection a *rarity*, minus its
log-density: attacks should be rarer than normal connections. We train
:class:`~skqegm.QEGMSampler` and its classical twin on the normal connections of a KDD Cup
1999 subsample, and compare their rarity with scikit-learn's
:class:`~sklearn.ensemble.IsolationForest`, a standard anomaly detector, on held-out
connections: precision-recall curves, average precision, and the share of attacks caught
when 1% of normal connections are flagged.
"""

# %%
# Data: 41 features, 3 of them categorical, 1.5% attacks
# ------------------------------------------------------
# :func:`~skqegm.datasets.load_intrusion` gives 20,000 connections; with
# ``as_frame=True`` the categorical columns (``protocol_type``, ``service``, ``flag``) have
# the ``category`` dtype. We keep 30% of the connections for the test, stratified so that
# both parts hold 1.5% attacks, and train every model on the *normal* training
# connections only: a detector learns what normal traffic looks like.
#
# ``SKQEGM_EXAMPLES_QUICK=1`` trains on fewer rows for a few epochs, so that the script
# runs in seconds; the numbers quoted in the text are from the full-size run.
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, precision_recall_curve
from sklearn.model_selection import train_test_split

from skqegm import QEGMSampler
from skqegm.datasets import load_intrusion
from skqegm.preprocessing import make_tail_pipeline

QUICK = os.environ.get("SKQEGM_EXAMPLES_QUICK") == "1"
MAX_EPOCHS = 3 if QUICK else 200
N_TRAIN = 2_000 if QUICK else None  # normal training connections (None: all of them)

X, y = load_intrusion(as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y,
                                                    random_state=0)
normal = X_train[y_train == 0]
if N_TRAIN is not None:
    normal = normal.sample(N_TRAIN, random_state=0)
print(f"{len(normal)} normal training connections; test: {len(y_test)} connections, "
      f"{int(y_test.sum())} attacks")

# %%
# Models through the paper's intrusion preprocessing
# --------------------------------------------------
# :func:`~skqegm.preprocessing.make_tail_pipeline` with ``kind="intrusion"`` one-hot
# encodes the categorical columns (of a DataFrame, the non-numeric ones) and standardises
# the others, fitted on the training rows only; categories unseen in training are encoded
# as all zeros. The pipeline's ``score_samples`` preprocesses, then asks the model, so the
# rarity of a connection is ``-pipeline.score_samples(X)``. The isolation forest goes
# through the same preprocessing (it needs numbers), and its ``score_samples`` is higher
# for normal points too. Five preprocessed columns are constant on the normal training
# rows, and QEGMSampler warns that it models their deviations in units of 1: they are
# kept on purpose, since a connection that departs from a constant is what the detector
# should find rare.
models = {
    "QEGM": QEGMSampler(max_epochs=MAX_EPOCHS, random_state=0),
    "twin (Gaussian latent)": QEGMSampler(latent="gaussian", max_epochs=MAX_EPOCHS,
                                          random_state=0),
    "IsolationForest": IsolationForest(random_state=0),
}
rarity = {}
for name, model in models.items():
    pipeline = make_tail_pipeline(model, kind="intrusion").fit(normal)
    rarity[name] = -pipeline.score_samples(X_test)

# %%
# Average precision and recall at a 1% false-positive rate
# --------------------------------------------------------
# Average precision summarises the precision-recall curve (attacks are the positive
# class, 1.5% of the test rows, so a random ranking scores about 0.015). Recall at a 1%
# false-positive rate is the share of attacks above the 99% quantile of the rarity of
# the normal test connections: what a security team flagging 1% of its normal traffic
# would catch.


def recall_at_fpr(y_true, scores, fpr=0.01):
    threshold = np.quantile(scores[y_true == 0], 1 - fpr)
    return float(np.mean(scores[y_true == 1] > threshold))


y_true = y_test.to_numpy()
print(f"{'':<24}{'average precision':>18}{'recall @ 1% FPR':>17}")
for name, scores in rarity.items():
    print(f"{name:<24}{average_precision_score(y_true, scores):>18.3f}"
          f"{recall_at_fpr(y_true, scores):>17.3f}")

# %%
# In the full-size run (one split, one seed, the 13,790 normal training connections) QEGM
# ranks the attacks best: average precision 0.62, against 0.54 for its twin and 0.57 for
# the isolation forest. At a 1% false-positive rate QEGM and its twin both catch 93% of
# the attacks (84 of 90), the isolation forest 26%.
#
# Precision-recall curves
# -----------------------
fig, ax = plt.subplots(figsize=(6.5, 5))
for name, scores in rarity.items():
    precision, recall, _ = precision_recall_curve(y_true, scores)
    ax.plot(recall, precision,
            label=f"{name} (AP {average_precision_score(y_true, scores):.2f})")
ax.axhline(y_true.mean(), color="0.5", linestyle=":", label="random ranking")
ax.set(xlabel="recall (share of attacks flagged)", ylabel="precision", xlim=(0, 1),
       ylim=(0, 1.02), title="Intrusions: rarity as an anomaly score (trained on normal)")
ax.legend(loc="lower left")
fig.tight_layout()
plt.show()

# %%
# One seed and one split are an anecdote. ``doc/benchmarks.md`` repeats this comparison
# over 10 splits (on 3,000 training rows each), with more baselines (a local outlier
# factor, a Gaussian mixture, a kernel density, a GAN, a VAE, a diffusion model, a
# Student-t), with training on normal traffic and on the training rows as they are
# (attacks included), and paired tests. There, trained on normal traffic, QEGM's average
# precision (0.74 +- 0.09) ties the isolation forest's (0.69 +- 0.11) and a classical
# VAE's (0.69 +- 0.07); trained on the rows as they are, every generative model falls far
# behind the isolation forest (QEGM 0.21, the forest 0.61). The 300 attacks of these data
# hold only 100 distinct rows (214 of them are ICMP echo requests): a density model
# trained with them in its data learns them as a mode of their own.
