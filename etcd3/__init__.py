"""etcd3: a Python client for etcd v3 through its gRPC-JSON gateway, driven by etcd's own specs."""
from __future__ import annotations

__version__ = "0.2.0"

from .baseclient import BaseClient  # noqa: E402
from .client import Client  # noqa: E402
from .stateful.election import Election  # noqa: E402
from .stateful.lease import Lease  # noqa: E402
from .stateful.lock import EtcdLockAcquireTimeout, EtcdLockError, FairLock, Lock  # noqa: E402
from .models import EtcdModel  # noqa: E402
from .stateful.transaction import Txn  # noqa: E402
from .stateful.watch import Watcher  # noqa: E402

__all__ = ["Client", "AioClient", "BaseClient", "Txn", "Lease", "Watcher", "Lock", "FairLock", "Election",
           "EtcdModel", "EventType", "__version__"]


def __getattr__(name: str):
    # AioClient needs the optional aiohttp; EventType is built from the specs: both on first use
    if name == "AioClient":
        from .aio_client import AioClient

        return AioClient
    if name == "EventType":
        from . import models

        return models.EventEventType
    raise AttributeError("module 'etcd3' has no attribute %r" % name)
