"""The Watch service: ``watch`` streams, ``watch_create`` and ``watch_cancel``."""
from __future__ import annotations

import warnings
from typing import Any, Optional

from ..utils import Etcd3Warning
from .base import BaseAPI, range_checked
from .binding import CALL_OPTIONS
from .signatures import expand_range_args

__all__ = ["WatchAPI"]


class WatchAPI(BaseAPI):
    """The Watch service.  ``watch(create_request=None, cancel_request=None, **kwargs)``
    comes from the server's spec (one watch stream per call; ``timeout``/``headers``
    in ``kwargs`` are options of the call); ``watch_create`` builds its create
    request.  ``client.Watcher(...)`` shares one stream between many watches."""

    @range_checked
    def watch_create(self, key: Any = None, range_end: Any = None, start_revision: Optional[int] = None,
                     progress_notify: Optional[bool] = None, prev_kv: Optional[bool] = None,
                     prefix: Any = False, all: Any = False, no_put: bool = False, no_delete: bool = False,
                     **kwargs: Any) -> Any:
        """open a watch stream of its own for one key or range: an iterable of
        WatchResponses, the first one ``created`` (close it to stop)

        :param key: the key to watch
        :param range_end: the end of the range [key, range_end) to watch
        :param start_revision: the revision to watch from (inclusive); none is "now"
        :param progress_notify: the server sends empty WatchResponses now and then
        :param prev_kv: the events carry the key-value pair before the event
        :param prefix: watch every key that starts with key
        :param all: watch every key
        :param no_put: the server filters out put events
        :param no_delete: the server filters out delete events
        :param kwargs: ``timeout``/``headers`` of the call; other names are fields of the
            server's WatchCreateRequest (``fragment``, ``watch_id``)
        """
        create = {"key": key, "range_end": range_end, "prefix": prefix, "all": all}
        expand_range_args(create)  # checked by range_checked
        create.update(start_revision=start_revision, progress_notify=progress_notify,
                      filters=(["NOPUT"] if no_put else []) + (["NODELETE"] if no_delete else []),
                      prev_kv=prev_kv)
        options = {k: kwargs.pop(k) for k in CALL_OPTIONS if k in kwargs}
        create.update(kwargs)
        return self.watch(create_request={k: v for k, v in create.items() if v is not None},  # type: ignore
                          **options)

    def watch_cancel(self, watch_id: int, **kwargs: Any) -> Any:
        """send a cancel request for a watch

        Over the gRPC-JSON gateway a cancel request can only go on a stream of its own,
        which does not hold the watch: close the watch's stream to end a watch (or use
        ``Watcher``, which cancels on its shared stream).  So this warns, then sends it;
        the server does not answer, so the call ends with ``Etcd3Timeout`` after
        ``timeout`` seconds (default: the client's timeout, else 30).

        :param watch_id: the watch_id of the watch
        :param kwargs: ``timeout``/``headers`` of the call
        """
        warnings.warn("watch_cancel(%r): a cancel request over the gRPC-JSON gateway goes on a stream of "
                      "its own and cannot cancel a watch of another stream; close the watch's stream "
                      "instead" % (watch_id,), Etcd3Warning, stacklevel=2)
        # the server never answers a cancel of a watch the stream does not have: the call
        # then ends with Etcd3Timeout after the timeout (0.1.6 waited forever without one)
        from ..baseclient import DEFAULT_TIMEOUT

        kwargs.setdefault("timeout", self.timeout or DEFAULT_TIMEOUT)  # type: ignore[attr-defined]
        return self.watch(cancel_request={"watch_id": watch_id}, **kwargs)  # type: ignore[attr-defined]
