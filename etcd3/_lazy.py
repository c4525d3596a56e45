"""Standard-library modules imported on first use.

asyncio costs about as much to import as requests does, and the sync client never
needs it; yet the modules serving both clients name it in their async halves.  They
import ``asyncio`` from here: the first attribute read imports the real module and
takes over its namespace, so every later read is a plain module attribute.
"""
from __future__ import annotations

import importlib
import types
from typing import Any

__all__ = ["LazyModule", "asyncio"]


class LazyModule(types.ModuleType):
    """Stands for the module ``name`` until one of its attributes is read."""

    def __getattr__(self, attribute: str) -> Any:
        # reached only while the namespace is not taken over yet (or for a missing name)
        module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return "<lazy module %r>" % self.__name__


asyncio: Any = LazyModule("asyncio")
