"""The quantum layer: circuits, an exact torch simulator, Qiskit backends, transformers.

It knows no model: models compose :class:`EstimatorTransformer` /
:class:`SamplerTransformer` (or the :class:`StatevectorSimulator` inside torch) with
their own networks.
"""

from .backends import BACKEND_NAMES, CircuitRunner, check_backend
from .circuits import (
    amplitude_encoding,
    amplitude_encoding_angles,
    angle_encoding,
    hardware_efficient_ansatz,
    variational_circuit,
)
from .gradients import parameter_shift_jacobian
from .noisy_simulator import NoisyDensityMatrixSimulator
from .qrng import QuantumRandomSource, monobit_test, runs_test, von_neumann_extract
from .runtime import DeviceRecord, JobManager
from .simulator import StatevectorSimulator, exact_bytes_per_row, exact_fixed_bytes
from .torch_layer import QuantumLayer
from .transformers import EstimatorTransformer, SamplerTransformer

__all__ = [
    "BACKEND_NAMES",
    "CircuitRunner",
    "DeviceRecord",
    "EstimatorTransformer",
    "JobManager",
    "NoisyDensityMatrixSimulator",
    "QuantumLayer",
    "QuantumRandomSource",
    "SamplerTransformer",
    "StatevectorSimulator",
    "amplitude_encoding",
    "amplitude_encoding_angles",
    "angle_encoding",
    "check_backend",
    "exact_bytes_per_row",
    "exact_fixed_bytes",
    "hardware_efficient_ansatz",
    "monobit_test",
    "parameter_shift_jacobian",
    "runs_test",
    "variational_circuit",
    "von_neumann_extract",
]
