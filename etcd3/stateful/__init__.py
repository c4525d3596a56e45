"""Stateful helpers on top of the RPCs: transactions, leases, locks, elections, watchers."""
from .election import Election
from .lease import Lease
from .lock import FairLock, Lock
from .transaction import Txn
from .watch import Watcher

__all__ = ["Txn", "Lease", "Lock", "FairLock", "Election", "Watcher"]
