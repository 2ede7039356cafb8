"""The documentation: numpydoc docstrings with Examples, the Sphinx build, the README."""

import ast
import importlib
import inspect
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from numpydoc.docscrape import NumpyDocString

import skqegm

ROOT = Path(__file__).resolve().parents[1]
DOC_PACKAGES = ("sphinx", "numpydoc", "sphinx_gallery", "myst_parser", "pydata_sphinx_theme")


def _public_modules():
    yield skqegm
    for info in pkgutil.walk_packages(skqegm.__path__, "skqegm."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            yield importlib.import_module(info.name)


def _public_objects():
    """Public classes and functions: defined in, or exported by, a public module."""
    found = {}
    for module in _public_modules():
        names = getattr(module, "__all__", None) or vars(module)
        for name in names:
            obj = getattr(module, name)
            if name.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if obj.__module__ == module.__name__ or hasattr(module, "__all__"):
                if obj.__module__.startswith("skqegm"):
                    found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return dict(sorted(found.items()))


def _public_methods(cls):
    for name, member in vars(cls).items():
        public = not name.startswith("_")
        if public and (inspect.isfunction(member) or isinstance(member, property)):
            yield f"{cls.__module__}.{cls.__qualname__}.{name}", member


PUBLIC = _public_objects()


def test_the_public_api_is_found():
    names = set(PUBLIC)
    assert {"skqegm.models.sampler.QEGMSampler", "skqegm.plotting.plot_var_backtest",
            "skqegm.metrics.tail.tail_kl_divergence", "skqegm.cli.main"} <= names
    assert not any("._" in name.rsplit(".", 1)[0] for name in names)  # no private module


@pytest.mark.parametrize("name", list(PUBLIC))
def test_public_object_has_a_numpydoc_docstring_with_examples(name):
    doc = inspect.getdoc(PUBLIC[name])
    assert doc, f"{name} has no docstring"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpydoc warns on unknown or malformed sections
        parsed = NumpyDocString(doc)
    assert parsed["Summary"], f"{name}: no one-line summary"
    examples = "\n".join(parsed["Examples"])
    assert ">>>" in examples, f"{name}: no Examples section with a doctest"


@pytest.mark.parametrize("name", [name for name, obj in PUBLIC.items() if inspect.isclass(obj)])
def test_public_methods_have_well_formed_docstrings(name):
    for method_name, method in _public_methods(PUBLIC[name]):
        doc = inspect.getdoc(method.fget if isinstance(method, property) else method)
        assert doc, f"{method_name} has no docstring"
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            NumpyDocString(doc)


def _commands(text):
    return [line.strip() for line in text.splitlines() if line.strip().startswith("pip install")]


def test_getting_started_gives_the_readme_commands():
    readme = _commands((ROOT / "README.md").read_text())
    assert len(readme) == 2  # install and run the main job; install and run the tests
    assert readme == _commands((ROOT / "doc" / "getting_started.rst").read_text())[:2]


def test_ci_runs_the_readme_test_command():
    readme = _commands((ROOT / "README.md").read_text())
    ci = (ROOT / ".ci" / "run").read_text()
    assert readme[1] in ci


GUIDE = sorted((ROOT / "doc" / "user_guide").glob("*.rst"))
USER_PAGES = ["README.md", "doc/getting_started.rst", *(f"doc/user_guide/{p.name}" for p in GUIDE)]


def _python_blocks(text, markdown):
    """(line, code) of each python code block: ```python fences or rst code-blocks."""
    if markdown:
        return [(text[:m.start()].count("\n") + 1, m.group(1))
                for m in re.finditer(r"^```python\n(.*?)^```", text, re.M | re.S)]
    blocks, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"\s*\.\. code-block::\s*python\s*$", line):
            indent, body = len(line) - len(line.lstrip()), []
            for nxt in lines[i + 1:]:
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                    break
                body.append(nxt)
            code = textwrap.dedent("\n".join(body))
            code = "\n".join(ln for ln in code.splitlines() if not ln.lstrip().startswith(":"))
            blocks.append((i + 1, code))
    return blocks


def _doc_blocks():
    for page in USER_PAGES:
        text = (ROOT / page).read_text()
        for line, code in _python_blocks(text, page.endswith(".md")):
            if ">>>" in code:  # a doctest-style block: keep the statements, drop the output
                code = "\n".join(ln.lstrip()[4:] for ln in code.splitlines()
                                  if ln.lstrip().startswith((">>>", "...")))
            yield f"{page}:{line}", code


def _skqegm_imports(tree):
    """(module, name or None) for each ``from skqegm... import`` / ``import skqegm...``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "skqegm":
            yield from ((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names
                        if alias.name.split(".")[0] == "skqegm")


def _missing_imports(code, where):
    missing = []
    for module_name, name in _skqegm_imports(ast.parse(code, where)):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            missing.append(module_name)
            continue
        if name is not None and not hasattr(module, name):
            missing.append(f"{module_name}.{name}")
    return missing


DOC_BLOCKS = dict(_doc_blocks())


def test_the_user_pages_have_python_blocks():
    pages = {where.split(":")[0] for where in DOC_BLOCKS}
    assert {"README.md", "doc/getting_started.rst", "doc/user_guide/tail_risk.rst"} <= pages
    assert len(DOC_BLOCKS) > 30


@pytest.mark.parametrize("where", list(DOC_BLOCKS))
def test_doc_code_blocks_compile_and_import_what_exists(where):
    """The code of the README and the user guide parses, and names only what skqegm has
    (running the blocks takes minutes; renamed or removed names are the usual staleness)."""
    code = DOC_BLOCKS[where]
    compile(code, where, "exec")
    assert not _missing_imports(code, where), f"{where} imports names skqegm does not have"


def test_a_doc_import_of_a_missing_name_is_caught():
    code = ("from skqegm.metrics import kupiec_pof_test, no_such_test\n"
            "import skqegm.no_such_module\n")
    assert _missing_imports(code, "<bad>") == ["skqegm.metrics.no_such_test",
                                                "skqegm.no_such_module"]


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    """Sphinx with warnings as errors: user guide, API reference from the docstrings,
    the gallery with every example run at toy sizes, and the markdown benchmark page."""
    for package in DOC_PACKAGES:
        pytest.importorskip(package)
    # Build a copy: autosummary and sphinx-gallery write into the source tree.
    shutil.copytree(ROOT / "doc", tmp_path / "doc",
                    ignore=shutil.ignore_patterns("_build", "generated", "auto_examples"))
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copy(ROOT / "CHANGELOG.md", tmp_path / "CHANGELOG.md")  # included by the docs
    out = tmp_path / "html"
    env = {**os.environ, "SKQEGM_EXAMPLES_QUICK": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
         "-d", str(tmp_path / "doctrees"), str(tmp_path / "doc"), str(out)],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    for page in ["index", "getting_started", "user_guide/model", "api", "benchmarks",
                 "known_limits", "auto_examples/index",
                 "generated/skqegm.QEGMSampler", "generated/skqegm.metrics.tail_kl_divergence"]:
        assert (out / f"{page}.html").is_file(), page
    examples = sorted(p.stem for p in (ROOT / "examples").glob("plot_*.py"))
    assert examples and all((out / "auto_examples" / f"{e}.html").is_file() for e in examples)
    figures = {p.name.split("_0")[0] for p in (out / "_images").glob("sphx_glr_plot_*_0*.png")}
    assert figures == {f"sphx_glr_{e}" for e in examples}  # every example drew its figures
    api = (out / "generated" / "skqegm.QEGMSampler.html").read_text()
    assert "score_samples" in api and "Examples" in api
