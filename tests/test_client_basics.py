"""The client itself against real servers: version detection, per-version methods, help
text, responses as models, transport errors (refused, timeout) and closing."""
from __future__ import annotations

import gc
import inspect
import time
import warnings

import pytest

from conftest import make_client
from etcd3 import Client, errors
from etcd3.models import EventEventType, RangeRequestSortOrder
from etcd3.testing.server import free_port
from etcd3.utils import Etcd3Warning
from helpers import Background, SilentServer, open_connections, version_at_least

# RPC -> the first minor version whose gateway has it
NEWER_RPCS = {"member_promote": "3.4", "auth_status": "3.5", "downgrade": "3.5"}


# --------------------------------------------------------------------------- version and spec

def test_server_version_detection(client, etcd):
    assert client.server_version == etcd.version
    assert client.cluster_version == client.version().etcdcluster
    assert client.spec.version == ".".join(etcd.version.split(".")[:2])
    assert client.api_prefix == etcd.api_prefix


@pytest.mark.parametrize("name,first", sorted(NEWER_RPCS.items()))
def test_operation_missing_from_the_version(client, etcd, name, first):
    if version_at_least(etcd.version, first):
        assert callable(getattr(client, name))
        return
    with pytest.raises(errors.UnsupportedOperation) as info:
        getattr(client, name)
    assert first in str(info.value)
    assert etcd.version in str(info.value)
    assert name not in dir(client)


def test_unknown_attribute_is_a_plain_attribute_error(client):
    with pytest.raises(AttributeError) as info:
        client.no_such_rpc
    assert not isinstance(info.value, errors.UnsupportedOperation)
    assert "no_such_rpc" in str(info.value)


def test_dir_lists_the_spec_operations(client):
    names = set(dir(client))
    assert set(client.operations) <= names
    for name in ("range", "put", "delete_range", "txn", "compact", "watch", "lease_grant", "lease_revoke",
                 "lease_keep_alive", "lease_time_to_live", "lease_leases", "member_list", "status", "alarm",
                 "defragment", "snapshot", "authenticate", "user_add", "lock", "unlock", "campaign", "leader",
                 "observe", "resign", "proclaim"):
        assert name in names, name


def test_help_text(client):
    params = list(inspect.signature(client.put).parameters)
    assert params[:3] == ["key", "value", "lease"]
    assert "prev_kv" in params
    assert client.put.__name__ == "put"
    doc = client.put.__doc__
    assert "Put puts the given key into the key-value store" in doc
    assert "prev_kv" in doc
    range_params = inspect.signature(client.range).parameters
    assert list(range_params)[:2] == ["key", "range_end"]
    assert range_params["prefix"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD  # as in 0.1.6's range()
    assert "prefix" in client.range.__doc__
    assert "lease_grant" in client.lease_grant.__qualname__


def test_response_models(client):
    client.put("m/k", "v")
    first = client.range("m/k")
    again = client.range("m/k")
    assert first == again
    data = first.to_dict()
    assert data["kvs"][0]["key"] == b"m/k" and data["count"] == 1
    assert data["more"] is False  # defaults filled
    assert "RangeResponse" in repr(first) and "m/k" in repr(first)
    assert first.kvs[0].lease == 0 and isinstance(first.header.revision, int)
    empty = client.range("m/none")
    assert empty.kvs is None and empty.count == 0 and empty.more is False  # 0.1.6's null rule
    with pytest.raises(AttributeError, match="kvz"):
        first.kvz


def test_enums_are_members(client):
    client.put("e/k", "v")
    rev = client.delete_range("e/k").header.revision
    with client.watch(create_request={"key": "e/k", "start_revision": rev - 1}) as stream:
        events = []
        for item in stream:
            events += item.events or ()  # the created response has none
            if len(events) >= 2:
                break
    assert [e.type for e in events] == [EventEventType.PUT, EventEventType.DELETE]
    assert RangeRequestSortOrder["DESCEND"].value == "DESCEND"


# --------------------------------------------------------------------------- transport errors

def test_connection_refused_is_a_connection_error(etcd):
    port = free_port()  # nothing listens there
    start = time.monotonic()
    with pytest.warns(Etcd3Warning, match="could not read the version"):
        client = Client("127.0.0.1", port)
    with pytest.raises(errors.Etcd3ConnectionError) as info:
        client.range("k")
    assert time.monotonic() - start < 5
    err = info.value
    assert not isinstance(err, errors.Etcd3Timeout), repr(err)
    assert isinstance(err, errors.Etcd3TransportError)
    assert err.endpoint == "http://127.0.0.1:%d" % port
    assert str(port) in str(err)


def test_dead_port_warns_once_and_uses_server_version(etcd):
    port = free_port()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = Client("127.0.0.1", port, server_version=etcd.version)
    ours = [w for w in caught if issubclass(w.category, Etcd3Warning)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    assert "127.0.0.1:%d" % port in str(ours[0].message)
    assert client.server_version == etcd.version
    assert client.spec.version == ".".join(etcd.version.split(".")[:2])
    assert client.api_prefix == etcd.api_prefix
    # nothing there: calls fail as transport errors
    with pytest.raises(errors.Etcd3ConnectionError):
        client.status()


def test_read_timeout_is_etcd3_timeout(etcd):
    with SilentServer() as silent:
        with pytest.warns(Etcd3Warning):
            client = Client("127.0.0.1", silent.port, timeout=0.5, server_version=etcd.version)
        start = time.monotonic()
        error = Background(lambda: pytest.raises(errors.Etcd3Timeout, client.range, "k").value).result(timeout=15)
        assert time.monotonic() - start < 5
        assert error.endpoint == "http://127.0.0.1:%d" % silent.port
        assert isinstance(error, errors.Etcd3TransportError)


def test_per_call_timeout(etcd):
    with SilentServer() as silent:
        with pytest.warns(Etcd3Warning):
            client = Client("127.0.0.1", silent.port, server_version=etcd.version)
        start = time.monotonic()
        with pytest.raises(errors.Etcd3Timeout):
            client.call_rpc("/kv/range", {"key": "k"}, timeout=0.5)
        assert time.monotonic() - start < 5


def test_max_retries_is_accepted(etcd):
    with make_client(etcd, max_retries=3) as client:
        assert client.max_retries == 3
        client.put("mr/k", "v")
        assert client.range("mr/k").count == 1
        client.delete_range("mr/k")
    with pytest.warns(Etcd3Warning):
        dead = Client("127.0.0.1", free_port(), max_retries=2, server_version=etcd.version)
    with pytest.raises(errors.Etcd3ConnectionError):
        dead.range("k")


# --------------------------------------------------------------------------- closing

def test_context_manager_closes_connections(etcd):
    gc.collect()  # connections of other tests' clients that are garbage by now
    before = open_connections(etcd.port)
    with make_client(etcd) as client:
        client.put("cm/k", "v")
        assert open_connections(etcd.port) == before + 1
    assert open_connections(etcd.port) == before
    client.delete_range("cm/k")  # a closed client can still be used: it reconnects
    client.close()
    assert open_connections(etcd.port) == before


def test_stream_close_releases_the_connection(etcd):
    gc.collect()
    before = open_connections(etcd.port)
    client = make_client(etcd)
    stream = client.watch(create_request={"key": "sc/k"})
    first = Background(lambda: next(iter(stream))).result(timeout=10)
    assert first.created is True
    during = open_connections(etcd.port)
    assert during >= before + 1
    stream.close()
    stream.close()  # idempotent
    assert open_connections(etcd.port) == during - 1  # the stream's own connection is gone
    client.close()
    assert open_connections(etcd.port) == before
