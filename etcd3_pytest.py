"""The ``pytest11`` entry point of etcd3-py: its pytest plugin, etcd3.testing.pytest_plugin.

Importing that module the usual way would first import the ``etcd3`` package (~0.25 s)
in every pytest run of every project where etcd3-py is installed.  The plugin needs
only pytest until one of its fixtures is used, so its file is loaded here on its own;
a later ``import etcd3.testing.pytest_plugin`` (after etcd3 and etcd3.testing, as
usual) is handed this same module object, so there is one plugin, not two copies.
"""
import importlib.abc
import importlib.util
import os
import sys

_NAME = "etcd3.testing.pytest_plugin"


class _AlreadyLoaded(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers the import of ``_NAME`` with the module loaded below."""

    def __init__(self, module):
        self.module = module

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _NAME:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=self.module.__file__)

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        pass  # ran already


def _load():
    if _NAME in sys.modules:
        return sys.modules[_NAME]
    for finder in sys.meta_path:
        if isinstance(finder, _AlreadyLoaded) or type(finder).__name__ == "_AlreadyLoaded":
            return finder.module
    package = importlib.util.find_spec("etcd3")  # a top-level name: etcd3 is not imported
    path = os.path.join(list(package.submodule_search_locations)[0], "testing", "pytest_plugin.py")
    spec = importlib.util.spec_from_file_location(_NAME, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.meta_path.insert(0, _AlreadyLoaded(module))
    return module


# the import system hands out what sys.modules holds at the end: the plugin itself
sys.modules[__name__] = _load()
