"""Memory estimates: refuse an allocation that cannot fit before making it, and chunk work.

Every array whose size grows with a user's argument (``n_samples``, ``n_draws``,
``n_qubits``, rows of ``X``) is estimated first. :func:`check_memory` refuses an estimate
above :func:`memory_limit` with a :class:`~skqegm.exceptions.MemoryLimitError` that names
the argument; :func:`chunk_rows` splits row-wise work into chunks that fit scikit-learn's
``working_memory``, so that only the output has to fit whole.
"""

import os

from sklearn import get_config

from ..exceptions import MemoryLimitError

#: Environment variable: a memory limit in GiB, below what the machine has free.
LIMIT_VARIABLE = "SKQEGM_MEMORY_LIMIT_GB"
_GIB = 2**30
# Rows and bytes of work of one block of sample().
_SAMPLE_BLOCK_ROWS = 2**16
_SAMPLE_BLOCK_BYTES = 2**28
# Below this, reading the memory available costs more than the work it guards.
UNCHECKED_BYTES = 2**26


def memory_limit(device=None):
    """The bytes an allocation may take: the least of what the machine, the container, the
    process limit and the user allow.

    Linux's ``MemAvailable`` (else the physical memory); what a cgroup's ``memory.max``
    leaves (a container's limit); what the address-space limit ``RLIMIT_AS`` leaves; and
    ``$SKQEGM_MEMORY_LIMIT_GB`` when it is set. On a CUDA ``device`` (a
    ``torch.device``) the GPU's free memory replaces the first three. ``None`` when none
    is known.
    """
    if _is_cuda(device):
        limits = [_gpu_bytes_free(device)]
    else:
        limits = [_available_bytes(), _cgroup_bytes_left(), _address_space_left()]
    if os.environ.get(LIMIT_VARIABLE):
        try:
            limits.append(float(os.environ[LIMIT_VARIABLE]) * _GIB)
        except ValueError:
            raise ValueError(f"{LIMIT_VARIABLE} must be a number of GiB; got "
                             f"{os.environ[LIMIT_VARIABLE]!r}.") from None
    known = [limit for limit in limits if limit is not None]
    return min(known) if known else None


def check_memory(n_bytes, what, advice="", device=None):
    """Raise :class:`MemoryLimitError` if ``n_bytes`` exceed :func:`memory_limit`.

    Parameters
    ----------
    n_bytes : float
        The estimate, in bytes (a float: estimates may exceed any integer type).
    what : str
        The call and the argument that asked for it, e.g. ``"sample(n_samples=10**9)"``.
    advice : str, default=""
        How to ask for less, appended to the message.
    device : torch.device or None, default=None
        Where the allocation is made: a CUDA device is checked against its free memory,
        anything else against the machine's.
    """
    limit = memory_limit(device)
    if limit is not None and n_bytes > limit:
        where = f" of GPU memory on {device}" if _is_cuda(device) else " of memory"
        raise MemoryLimitError(
            f"{what} needs an estimated {format_bytes(n_bytes)}{where}, more than the "
            f"{format_bytes(limit)} available{'; ' + advice if advice else '.'}"
        )


def chunk_rows(n_rows, bytes_per_row):
    """Rows per chunk so that a chunk's work fits scikit-learn's ``working_memory``.

    At least one row: a single row that needs more is estimated and refused by its caller.
    """
    budget = get_config()["working_memory"] * 2**20
    return int(max(1, min(n_rows, budget // max(bytes_per_row, 1))))


def rows_per_chunk(n_rows, bytes_per_row, fixed_bytes, what, advice="", device=None):
    """Rows per chunk of row-wise work, after refusing what cannot fit even one row.

    Chunks follow scikit-learn's ``working_memory``, made smaller where the memory limit
    leaves less than that beside ``fixed_bytes`` (the output and whatever is not chunked):
    a low limit then costs more chunks rather than a refusal. The refusal's estimate is
    ``fixed_bytes`` plus one chunk. On a CUDA ``device`` the chunks must also fit the
    GPU's free memory (the whole estimate is held against both: the work runs on the
    GPU, its output comes back to the host).
    """
    rows = chunk_rows(n_rows, bytes_per_row)
    if fixed_bytes + rows * bytes_per_row < UNCHECKED_BYTES:
        return rows  # reading the memory available would cost more than the work
    devices = [None] + ([device] if _is_cuda(device) else [])
    for where in devices:
        limit = memory_limit(where)
        if limit is not None:
            # Half of what is left: the limit is what is available now, not a promise.
            rows = max(1, min(rows, int((limit - fixed_bytes) // (2 * max(bytes_per_row, 1)))))
    for where in devices:
        check_memory(fixed_bytes + rows * bytes_per_row, what, advice, where)
    return rows


def sample_block(bytes_per_row):
    """Rows drawn at a time by ``sample``: at most ``2**16``, and ``2**28`` bytes of work.

    A function of the model alone, never of the machine, so that the same
    ``random_state`` gives the same samples everywhere (the blocks consume the random
    stream in turn).
    """
    return int(max(1, min(_SAMPLE_BLOCK_ROWS, _SAMPLE_BLOCK_BYTES // max(1, bytes_per_row))))


def format_bytes(n_bytes):
    """``n_bytes`` in the largest unit that keeps the number >= 1 (B, KiB, ... , PiB)."""
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            return f"{value:.3g} {unit}"
        value /= 1024
    return f"{value:.3g} PiB"


def _is_cuda(device):
    return getattr(device, "type", None) == "cuda"


def _gpu_bytes_free(device):
    import torch  # only asked with a CUDA device, so torch is already imported

    return torch.cuda.mem_get_info(device)[0]


def _available_bytes():
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_bytes_left():
    try:
        with open("/sys/fs/cgroup/memory.max") as handle:
            text = handle.read().strip()
        if text == "max":
            return None
        with open("/sys/fs/cgroup/memory.current") as handle:
            return max(0, int(text) - int(handle.read().strip()))
    except (OSError, ValueError):
        return None


def _address_space_left():
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmSize:"):
                    return max(0, soft - int(line.split()[1]) * 1024)
    except (ImportError, OSError, ValueError):
        pass
    return None
