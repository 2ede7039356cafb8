"""``python -m skqegm``: the package's main job.

Until the tail-risk estimator lands, this runs a short demonstration of the quantum
layer: the same variational circuit on the exact simulator, Qiskit's reference
simulators and a noisy fake IBM device, with timings and the largest deviation.
"""

import argparse
import sys
import time
import warnings

import numpy as np


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="skqegm",
        description="Demonstrate skqegm's quantum layer: one variational circuit, "
        "evaluated on every kind of backend.",
    )
    parser.add_argument("--n-qubits", type=int, default=4, help="qubits (= features), default 4")
    parser.add_argument("--n-layers", type=int, default=3, help="ansatz layers, default 3")
    parser.add_argument("--n-samples", type=int, default=200, help="rows to transform, default 200")
    parser.add_argument("--shots", type=int, default=2000, help="shots for sampled runs, default 2000")
    parser.add_argument("--seed", type=int, default=0, help="random seed, default 0")
    return parser.parse_args(argv)


def main(argv=None):
    """Run the demonstration; returns the process exit code."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    from skqegm.quantum import EstimatorTransformer

    rng = np.random.default_rng(args.seed)
    X = rng.uniform(-np.pi, np.pi, size=(args.n_samples, args.n_qubits))
    runs = [
        ("exact (torch)", None, None),
        ("statevector", "statevector", None),
        ("aer", "aer", None),
        ("aer, shots", "aer", args.shots),
        ("FakeManilaV2 (noisy)", FakeManilaV2(), None),
        ("FakeManilaV2, shots", FakeManilaV2(), args.shots),
    ]
    print(f"skqegm: <Z_i> of {args.n_samples} rows, {args.n_qubits} qubits x "
          f"{args.n_layers} layers, one primitive call per backend\n")
    print(f"{'backend':<24}{'seconds':>10}{'max |diff| vs exact':>22}")
    reference = None
    for name, backend, shots in runs:
        qt = EstimatorTransformer(
            n_layers=args.n_layers, backend=backend, shots=shots, random_state=args.seed
        )
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            Z = qt.fit(X).transform(X)
        elapsed = time.perf_counter() - start
        reference = Z if reference is None else reference
        print(f"{name:<24}{elapsed:>10.3f}{np.abs(Z - reference).max():>22.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
