"""etcd3: a Python client for etcd v3 through its gRPC-JSON gateway, driven by etcd's own specs.

``import etcd3`` imports nothing else: each name below is imported on first use
(``etcd3.Client`` the sync stack with requests, ``etcd3.AioClient`` the async one
with aiohttp), so a program pays only for the client it uses.
"""
from __future__ import annotations

import importlib

__version__ = "0.2.0"

__all__ = ["Client", "AioClient", "BaseClient", "Txn", "Lease", "Watcher", "Lock", "FairLock", "Election",
           "EtcdModel", "EventType", "__version__"]

# name -> (module, attribute): where each top-level name lives
_LAZY = {
    "Client": (".client", "Client"),
    "AioClient": (".aio_client", "AioClient"),  # needs the optional aiohttp
    "BaseClient": (".baseclient", "BaseClient"),
    "Txn": (".stateful.transaction", "Txn"),
    "Lease": (".stateful.lease", "Lease"),
    "Watcher": (".stateful.watch", "Watcher"),
    "Lock": (".stateful.lock", "Lock"),
    "FairLock": (".stateful.lock", "FairLock"),
    "EtcdLockError": (".stateful.lock", "EtcdLockError"),
    "EtcdLockAcquireTimeout": (".stateful.lock", "EtcdLockAcquireTimeout"),
    "Election": (".stateful.election", "Election"),
    "EtcdModel": (".models", "EtcdModel"),
    "EventType": (".models", "EventEventType"),  # built from the specs
}

# the package's modules, reachable as attributes as when __init__ imported them all
_SUBMODULES = frozenset({"aio_client", "apis", "baseclient", "client", "contrib", "core", "errors", "models",
                         "spec", "stateful", "swagger_helper", "swaggerdefs", "testing", "transport", "utils"})


def __getattr__(name: str) -> object:
    where = _LAZY.get(name)
    if where is not None:
        value = getattr(importlib.import_module(where[0], __name__), where[1])
    elif name in _SUBMODULES:
        value = importlib.import_module("." + name, __name__)
    else:
        raise AttributeError("module 'etcd3' has no attribute %r" % name)
    globals()[name] = value  # the next access is a plain module attribute
    return value


def __dir__() -> "list[str]":
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
