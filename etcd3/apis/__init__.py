"""The API groups of etcd v3, as etcd3-py 0.1.6 named them: ``BaseClient`` mixes in
``AuthAPI, ClusterAPI, KVAPI, LeaseAPI, MaintenanceAPI, WatchAPI, ExtraAPI, LockAPI``
(and ``ElectionAPI``, which 0.1.6 lacked).

The RPC methods come from the connected server's spec, with etcd3-py 0.1.6's
signatures where it had a wrapper (``signatures.SIGNATURES``, applied by
``binding.Binding``); the groups hold what the spec cannot say: sugar over RPCs
(``watch_create``, ``lease_keep_alive_once``, ``alarm_get`` ...) and the plain HTTP
endpoints (``version``, ``health``, ``metrics``).
"""
from __future__ import annotations

from .auth import AuthAPI
from .base import BaseAPI
from .cluster import ClusterAPI
from .election import ElectionAPI
from .extra import EtcdVersion, ExtraAPI
from .kv import KVAPI
from .lease import LeaseAPI
from .lock import LockAPI
from .maintenance import MaintenanceAPI
from .watch import WatchAPI

__all__ = ["BaseAPI", "AuthAPI", "ClusterAPI", "KVAPI", "LeaseAPI", "MaintenanceAPI", "WatchAPI", "ExtraAPI",
           "LockAPI", "ElectionAPI", "EtcdVersion"]
