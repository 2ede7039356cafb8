"""Sphinx configuration of the skqegm documentation.

Build: ``make -C doc html`` (runs every example at full size, a few minutes each) or
``SKQEGM_EXAMPLES_QUICK=1 make -C doc html`` (toy sizes). ``make`` passes ``-W``: a
warning fails the build, as in the test suite's docs check.
"""

import os
import re
import sys
from pathlib import Path

import skqegm

DOC = Path(__file__).resolve().parent
sys.path.insert(0, str(DOC.parent))  # examples import skqegm from the checkout

project = "skqegm"
author = "The skqegm developers"
copyright = "2026, The skqegm developers"
release = skqegm.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.md5"]
templates_path = ["_templates"]

# -- API reference: one page per object, numpydoc sections ---------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False  # the class template lists the methods instead
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- Markdown pages (benchmarks.md) ----------------------------------------------------------
myst_heading_anchors = 3

# -- Gallery -----------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(DOC.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "reference_url": {"skqegm": None},
    "doc_module": ("skqegm",),
    "backreferences_dir": "generated/backreferences",
    "matplotlib_animations": False,
    "min_reported_time": 1,
}

# -- HTML ----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skqegm {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
html_show_sourcelink = False

# The examples print figures of merit; quick mode shrinks them for CI (see examples/).
os.environ.setdefault("MPLBACKEND", "Agg")


# -- API reference: members left out ------------------------------------------------------------
def _skip_metadata_requests(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_*_request`` methods (``Pipeline`` has
    ``set_score_request``): their docstrings point into scikit-learn's own documentation."""
    return True if re.fullmatch(r"set_\w+_request", name) else None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
