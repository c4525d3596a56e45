"""The Maintenance service: alarms, status, defragment, hash, snapshot."""
from __future__ import annotations

from typing import Any

from .base import BaseAPI

__all__ = ["MaintenanceAPI"]


class MaintenanceAPI(BaseAPI):
    """The Maintenance service.  Its methods come from the server's spec, with 0.1.6's
    signatures: ``alarm(memberID, action=GET, alarm=NONE)``, ``defragment()``,
    ``hash()``, ``snapshot()`` (a stream), ``status()``; plus the three alarm actions."""

    def alarm_get(self, memberID: int, alarm: Any) -> Any:
        """the active alarms

        :param memberID: the member's ID; 0 is every member
        :param alarm: the alarm type (an ``etcdserverpbAlarmType`` or its name); NONE is every type
        """
        return self.alarm(memberID, "GET", alarm)  # type: ignore[attr-defined]

    def alarm_activate(self, memberID: int, alarm: Any) -> Any:
        """raise an alarm on a member

        :param memberID: the member's ID
        :param alarm: the alarm type (``NOSPACE``, ``CORRUPT``)
        """
        return self.alarm(memberID, "ACTIVATE", alarm)  # type: ignore[attr-defined]

    def alarm_deactivate(self, memberID: int, alarm: Any) -> Any:
        """clear an alarm of a member

        :param memberID: the member's ID
        :param alarm: the alarm type (``NOSPACE``, ``CORRUPT``)
        """
        return self.alarm(memberID, "DEACTIVATE", alarm)  # type: ignore[attr-defined]
