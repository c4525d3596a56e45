"""What a forked child process gets of its parent's clients: nothing live.

After ``os.fork()`` the child has copies of all of the parent's objects but only
the thread that forked.  A lock that another thread held at that moment stays
held for good in the child; the background threads of the watch and keepalive
streams are gone; every socket is still the parent's connection too (whatever
the child sent or read on one would mix with the parent's traffic); and an
asyncio transport is registered in the parent's event loop's epoll set, which
the child shares.

Objects that own such things ``register()`` here.  In the child, right after
the fork, each one's ``_after_fork_in_child()`` gives it fresh locks and lets go
of the parent's connections, threads and streams without using them: whatever
the child needs it opens itself, on first use.  Nothing runs in the parent and
nothing is done per request.
"""
from __future__ import annotations

import logging
import os
import weakref
from typing import Any, List

__all__ = ["register", "keep_untouched"]

log = logging.getLogger("etcd3.forksafe")

# the objects to reset in a child (weakly: registering never keeps one alive)
_registered: "weakref.WeakSet[Any]" = weakref.WeakSet()

# the parent's asyncio objects (transports, sessions, tasks and their loop) that a child
# must neither use nor close: closing a transport unregisters its socket from the epoll set
# the child shares with the parent, which would leave the parent's connection deaf.  Kept
# here they are never garbage collected in the child either (which would close them).
_inherited: List[Any] = []


def register(obj: Any) -> None:
    """Call ``obj._after_fork_in_child()`` in every child forked from now on (while
    ``obj`` is alive).  It runs in the child's only thread, before the child's code
    goes on; it must not take locks that other threads of the parent may have held,
    nor send or close anything of the parent's."""
    _registered.add(obj)


def keep_untouched(*objs: Any) -> None:
    """In a child: keep the parent's ``objs`` referenced for good, unused and unclosed."""
    _inherited.extend(obj for obj in objs if obj is not None)


def _reset_in_child() -> None:
    for obj in list(_registered):
        try:
            obj._after_fork_in_child()
        except Exception:  # one object's failure must not leave the others as the parent's
            log.exception("resetting %r after fork failed", obj)


if hasattr(os, "register_at_fork"):  # (not on Windows)
    os.register_at_fork(after_in_child=_reset_in_child)
