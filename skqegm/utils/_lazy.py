"""Package attributes imported on first use (PEP 562), so that ``import skqegm`` is cheap.

torch, scikit-learn and qiskit take seconds to import, and every worker process of a
parallel search pays that again. A package built with :func:`attach` imports a submodule
only when one of its names is first read, as ``from skqegm import QEGMSampler`` does;
``__all__``, ``dir()``, pickling (by the defining module's path), sphinx and
``from package import *`` see the same names as with eager imports.
"""

import functools
import importlib
import pkgutil
import sys


def attach(package, exports):
    """``__getattr__`` and ``__dir__`` for a package whose names load on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : dict of str to sequence of str
        For each submodule (relative to the package), the public names it defines that
        the package re-exports.

    Returns
    -------
    __getattr__ : callable
        The package's attribute hook: a re-exported name imports its submodule (and is
        then stored on the package, so later reads skip the hook); a submodule's name
        imports that submodule, as after ``import package.submodule``.
    __dir__ : callable
        The package's names, the lazy ones included.

    Examples
    --------
    In ``mypackage/__init__.py``::

        __getattr__, __dir__ = attach(__name__, {"models": ["Model"]})
        __all__ = ["Model"]
    """
    where = {name: submodule for submodule, names in exports.items() for name in names}

    @functools.cache
    def submodules():
        # Read when first needed: names of the package's modules, for ``package.module``.
        path = sys.modules[package].__path__
        return frozenset(info.name for info in pkgutil.iter_modules(path))

    def __getattr__(name):
        if name in where:
            value = getattr(importlib.import_module(f".{where[name]}", package), name)
            setattr(sys.modules[package], name, value)
            return value
        if not name.startswith("__") and name in submodules():
            return importlib.import_module(f".{name}", package)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        names = set(vars(sys.modules[package])) | set(where)
        return sorted(names | {name for name in submodules() if not name.startswith("_")})

    return __getattr__, __dir__
