"""The Auth service: authenticate, users, roles, enabling and disabling auth."""
from __future__ import annotations

from .base import BaseAPI

__all__ = ["AuthAPI"]


class AuthAPI(BaseAPI):
    """The Auth service.  Its methods come from the server's spec, with 0.1.6's
    signatures (``etcd3.apis.signatures``): ``authenticate(name, password)``,
    ``user_add(name, password)``, ``role_grant_permission(name, key=None,
    permType=READ, range_end=None, prefix=False, all=False)``, ...;
    ``auth_disable()`` also forgets the client's token."""
