"""The plain HTTP endpoints of an etcd server: ``/version``, ``/health``, ``/metrics``.

They are GETs without the gateway's prefix and without the auth token.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, NamedTuple, Tuple

from .base import BaseAPI

__all__ = ["ExtraAPI", "EtcdVersion", "HealthStatus", "parse_prometheus"]


class EtcdVersion(NamedTuple):
    """The answer of ``GET /version``: ``server, cluster = client.version()``."""

    etcdserver: str
    etcdcluster: str


class HealthStatus(str):
    """The answer of ``GET /health``: the ``health`` value as the server sent it (the
    string ``'true'`` or ``'false'``, as 0.1.6 returned it), with ``.health`` as a bool
    and the server's ``.reason`` (etcd 3.5+, else ``''``)."""

    reason: str

    def __new__(cls, value: str, reason: str = "") -> "HealthStatus":
        status = super().__new__(cls, value)
        status.reason = reason
        return status

    @property
    def health(self) -> bool:
        return self == "true"

    def __repr__(self) -> str:
        return "HealthStatus(%s%s)" % (str.__repr__(self), ", reason=%r" % self.reason if self.reason else "")


class ExtraAPI(BaseAPI):
    """The plain HTTP endpoints: ``version()``, ``health()``, ``metrics_raw()``, ``metrics()``."""

    def version(self) -> Any:
        """the server's and the cluster's version: ``EtcdVersion(etcdserver, etcdcluster)``"""
        return self._run(self._get_flow("/version", version_of))  # type: ignore[attr-defined]

    def health(self) -> Any:
        """the server's health: ``'true'`` or ``'false'`` as the server says (a
        ``HealthStatus``: ``.health`` is the bool, ``.reason`` the server's reason)"""
        return self._run(self._get_flow("/health", health_of))  # type: ignore[attr-defined]

    def metrics_raw(self) -> Any:
        """the server's Prometheus metrics, as text"""
        return self._run(self._get_flow("/metrics", _text))  # type: ignore[attr-defined]

    def metrics(self) -> Any:
        """the server's Prometheus metrics: with ``prometheus_client`` installed, its metric
        families (``text_string_to_metric_families``, as etcd3-py 0.1.6 returned them);
        without it, ``{name: [(labels, value), ...]}`` (0.1.6 raised ImportError there)"""
        return self._run(self._get_flow("/metrics", _metrics_of))  # type: ignore[attr-defined]


def _metrics_of(response: Any) -> Any:
    text = _text(response)
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        return parse_prometheus(text)
    return text_string_to_metric_families(text)


def version_of(response: Any) -> EtcdVersion:
    """The ``EtcdVersion`` of an answer of ``GET /version`` (keys other than the two are ignored)."""
    data = response.json()
    return EtcdVersion(data.get("etcdserver", ""), data.get("etcdcluster", ""))


def health_of(response: Any) -> HealthStatus:
    data = response.json()
    value = data.get("health")
    if isinstance(value, bool):
        value = "true" if value else "false"
    return HealthStatus("" if value is None else str(value), data.get("reason") or "")


def _text(response: Any) -> str:
    return response.body.decode("utf-8")


_METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text: str) -> Dict[str, List[Tuple[Dict[str, str], float]]]:
    """Prometheus text format -> {metric: [(labels, value), ...]}."""
    metrics: Dict[str, List[Tuple[Dict[str, str], float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _METRIC_LINE.match(line)
        if not m:
            continue
        labels = {k: v.encode().decode("unicode_escape") for k, v in _LABEL.findall(m.group(2) or "")}
        metrics.setdefault(m.group(1), []).append((labels, float(m.group(3))))
    return metrics
