"""Sphinx configuration of the etcd3-py documentation.

The per-version API pages, the version matrix, the CLI reference, the pytest plugin's
options and the error table are generated from ``specs/`` and the code at every build
(``docs/_ext/etcd3_docs.py`` writes them into ``docs/_generated/``, which git ignores).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "_ext"))
sys.path.insert(0, os.path.dirname(HERE))  # the checkout's etcd3, also when it is not installed

import etcd3  # noqa: E402

project = "etcd3-py"
author = "etcd3-py contributors"
copyright = "etcd3-py contributors"
release = etcd3.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "etcd3_docs",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = []
root_doc = "index"
nitpicky = True
# names the docstrings use that are no documented object (typing internals, other libraries)
nitpick_ignore_regex = [
    (r"py:.*", r"(typing|collections\.abc|_?asyncio|aiohttp|requests|urllib3|threading|concurrent)\..*"),
    (r"py:.*", r"(pathlib|inspect)\..*"),
    # internal classes shown as bases: 0.1.6's API mixins, the transport's stream owners, private helpers
    (r"py:class", r"etcd3\.(apis|transport)\..*"),
    (r"py:class", r".*\._[A-Za-z]\w*"),
    (r"py:.*", r"(Any|Optional|Union|Callable|Iterator|Iterable|AsyncIterator|Awaitable|Dict|List|"
               r"Tuple|Type|Sequence|Mapping|Generator|TextIO|BinaryIO|Path|PathLike|os\.PathLike|T|"
               r"socket\.socket|ssl\.SSLContext|SSLContext)"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_preserve_defaults = True

intersphinx_mapping = {}  # offline builds: no inventories fetched
html_theme = "alabaster"
html_title = "etcd3-py %s" % release
html_static_path = []
html_theme_options = {"description": "etcd v3 through its gRPC-JSON gateway, driven by etcd's specs"}
