"""The bundled etcd gateway specs as plain dicts, as etcd3-py 0.1.6 offered them.

``get_spec(server_version)`` gives the spec that serves a server version;
``SPECS`` lists ``(label, spec_dict)`` for every bundled version, oldest first
(``('3.2.x', {...})``, ...).  Each dict joins the version's rpc, v3lock and
v3election documents (paths and definitions), like 0.1.6's single spec; it is
shared, so do not change it.  Everything loads on first use.
"""
from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["get_spec", "SPECS"]

_merged: Dict[str, dict] = {}  # spec version ('3.5') -> its joined spec dict
_lock = threading.Lock()


def _spec_dict(version: str) -> dict:
    spec = _merged.get(version)
    if spec is None:
        from ..spec import load_bundle

        with _lock:
            spec = _merged.get(version)
            if spec is None:
                documents = [doc.spec for doc in load_bundle(version).documents]
                spec = dict(documents[0])
                for key in ("paths", "definitions"):
                    joined: Dict[str, Any] = {}
                    for doc in documents:
                        for name, value in (doc.get(key) or {}).items():
                            joined.setdefault(name, value)
                    spec[key] = joined
                _merged[version] = spec
    return spec


def get_spec(server_version: Optional[str] = "") -> dict:
    """The spec dict of the bundled version that serves etcd ``server_version``
    (the same minor, else the nearest lower one); ``''``/None give the oldest."""
    from ..spec import bundled_versions, select_version

    version = select_version(server_version) if server_version else bundled_versions()[0]
    return _spec_dict(version)


def __getattr__(name: str) -> Any:
    if name == "SPECS":
        from ..spec import bundled_versions

        specs: List[Tuple[str, dict]] = [("%s.x" % v, _spec_dict(v)) for v in bundled_versions()]
        globals()["SPECS"] = specs
        return specs
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def __dir__() -> List[str]:
    return sorted(set(globals()) | {"SPECS"})
