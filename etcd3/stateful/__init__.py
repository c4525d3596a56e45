"""Stateful helpers on top of the RPCs: transactions, leases, locks, elections, watchers."""
from __future__ import annotations

import importlib

__all__ = ["Txn", "Lease", "Lock", "FairLock", "Election", "Watcher"]

# name -> its module, imported on first use: the client imports only the helpers it runs
# (Txn's module, for one, builds the enums of every bundled spec)
_LAZY = {"Txn": ".transaction", "Lease": ".lease", "Lock": ".lock", "FairLock": ".lock",
         "Election": ".election", "Watcher": ".watch"}


# the modules that importing the package used to import, reachable as attributes still
_SUBMODULES = frozenset({"election", "lease", "lock", "transaction", "watch"})


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module, __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module("." + name, __name__)
    else:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    globals()[name] = value
    return value


def __dir__() -> "list[str]":
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
