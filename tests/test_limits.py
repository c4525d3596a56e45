"""What etcd really sends, against real servers: the size of a range answer is bounded by
the server (its gRPC message limits), not by the 1.5 MiB request limit, so the clients'
``max_response_size`` default (3 GiB) lets every real answer through; a smaller limit
refuses with a typed error and the client goes on.  And the streams' idle timeouts on
real servers: an idle watch stream stays open (its progress requests are answered, by
3.3.25 too), a user's stream waits for each piece at most the client's timeout.

Measured here (bounded experiment, outside the suite: 1.5 MiB values ranged in one call):
3.3.25's gateway refuses a range answer past 4 MiB of protobuf ("grpc: received message
larger than max (N vs. 4194304)", code 8, HTTP 429): at most ~19 MiB of JSON (tiny keys);
3.4.23 and 3.5.30 send 100 MiB of values as a 134 MiB answer, 300 MiB as 401 MiB, 1 GiB as
1.37 GiB (40 s; etcd 3.5 peaked at 15 GiB of memory for it).  The bound left is etcd's gRPC
send limit, 2 GiB - 1 of protobuf: ~2.7 GiB of JSON.
"""
from __future__ import annotations

import time

import pytest

from etcd3 import errors
from etcd3.stateful.watch import WatchConnection
from etcd3.testing.server import EtcdServer
from etcd3.transport.duplex import DEFAULT_MAX_RESPONSE_SIZE
from etcd3.transport.streams import StreamPolicy
from conftest import make_client
from helpers import Background, version_at_least, wait_for

# just under etcd's default --max-request-bytes (1.5 MiB), as one put can carry
VALUE_SIZE = 1536 * 1024 - 4096
# the 3.3 gateway's gRPC client takes at most 4 MiB of answer
GATEWAY_33_LIMIT = 4 * 1024 * 1024


def big_value(i: int) -> bytes:
    return (b"%08d" % i) * (VALUE_SIZE // 8)


def put_values(client, prefix: str, count: int) -> None:
    for i in range(count):
        client.put("%s%05d" % (prefix, i), big_value(i))


def lifts_the_gateway_limit(version: str) -> bool:
    return version_at_least(version, "3.4.0")


def assert_refused_by_the_33_gateway(error: BaseException) -> None:
    assert isinstance(error, errors.Etcd3APIError), error
    assert error.code == 8  # ResourceExhausted
    assert "received message larger than max" in str(error) and "4194304" in str(error)


@pytest.mark.etcd_versions("oldest", "3.4.23", "newest")  # the 3.5s' gateways are one
def test_a_range_answer_is_bounded_by_the_server_not_by_the_request_limit(client, etcd):
    count = 11  # 16.5 MiB of values: a 22 MiB answer
    put_values(client, "limits/big/", count)
    if lifts_the_gateway_limit(etcd.version):
        resp = client.range("limits/big/", prefix=True)
        assert [kv.value for kv in resp.kvs] == [big_value(i) for i in range(count)]
        assert sum(len(kv.value) for kv in resp.kvs) > 16 * 1024 * 1024
    else:
        with pytest.raises(errors.Etcd3APIError) as info:
            client.range("limits/big/", prefix=True)
        assert_refused_by_the_33_gateway(info.value)
        # two values (3 MiB of protobuf) pass under its 4 MiB
        assert len(client.range("limits/big/", prefix=True, limit=2).kvs) == 2
    client.delete_range("limits/big/", prefix=True)


@pytest.mark.parametrize("kind", ["sync", "aio"])
def test_a_smaller_max_response_size_refuses_a_larger_answer_and_the_client_goes_on(etcd, kind):
    limit = 1024 * 1024
    if kind == "aio":
        from aio_facade import close_aio_client, make_aio_client

        client = make_aio_client(etcd, max_response_size=limit)
    else:
        client = make_client(etcd, max_response_size=limit)
    try:
        assert client.max_response_size == limit
        client.put("limits/a", b"a" * 600_000)
        client.put("limits/b", b"b" * 600_000)
        with pytest.raises(errors.Etcd3ProtocolError) as info:
            client.range("limits/", prefix=True)  # 1.6 MB of JSON
        message = str(info.value)
        assert "limit of 1048576 bytes" in message and "max_response_size=" in message
        assert info.value.endpoint == client.baseurl
        # the refused answer's connection is dropped; the next call goes on a good one
        assert client.range("limits/a").kvs[0].value == b"a" * 600_000
        client.max_response_size = None  # no limit: the whole answer
        assert len(client.range("limits/", prefix=True).kvs) == 2
        client.max_response_size = DEFAULT_MAX_RESPONSE_SIZE
        assert len(client.range("limits/", prefix=True).kvs) == 2
    finally:
        client.delete_range("limits/", prefix=True)
        if kind == "aio":
            close_aio_client(client)
        else:
            client.close()


@pytest.mark.etcd_versions("oldest", "3.4.23", "newest")
def test_a_100_mib_range_comes_back_whole_under_the_default_limit(etcd):
    # a server of its own: 100 MiB of values is no load for the session's server
    server = EtcdServer(version=etcd.version).start()
    client = make_client(server, timeout=120)
    try:
        count = -(-100 * 1024 * 1024 // VALUE_SIZE)  # 67
        put_values(client, "huge/", count)
        if lifts_the_gateway_limit(etcd.version):
            resp = client.range("huge/", prefix=True)
            assert len(resp.kvs) == count
            assert all(kv.value == big_value(i) for i, kv in enumerate(resp.kvs))
        else:
            with pytest.raises(errors.Etcd3APIError) as info:
                client.range("huge/", prefix=True)
            assert_refused_by_the_33_gateway(info.value)
    finally:
        client.close()
        server.stop()


# --------------------------------------------------------------------------- streams on real servers

@pytest.mark.etcd_versions("oldest", "3.4.23", "newest")
def test_a_watch_catching_up_gets_one_answer_of_many_megabytes(client, etcd):
    # etcd sends a catching-up watch up to 1000 revisions in one answer: 20 values of
    # 1.5 MiB are one stream item of ~40 MB of JSON, written by the gateway in small chunks
    count = 20
    start = client.put("limits/watch/start", "").header.revision + 1
    put_values(client, "limits/watch/", count)
    watcher = client.Watcher("limits/watch/0", prefix=True, start_revision=start)
    got = []
    try:
        if lifts_the_gateway_limit(etcd.version):
            for event in watcher.events(timeout=60):
                got.append(event)
                if len(got) == count:
                    break
        else:
            # 3.3's gateway cannot relay it; resuming would bring the same answer again:
            # the watch ends with the server's error instead of reconnecting for ever
            with pytest.raises(errors.Etcd3APIError) as info:
                for event in watcher.events(timeout=60):
                    got.append(event)
            assert_refused_by_the_33_gateway(info.value)
            assert got == []
            return
    finally:
        watcher.stop()
        client.delete_range("limits/watch/", prefix=True)
    assert [e.mod_revision for e in got] == list(range(start, start + count))
    assert all(e.value == big_value(i) for i, e in enumerate(got))


def server_watchers(client) -> float:
    return sum(sample.value for family in client.metrics() for sample in family.samples
               if sample.name == "etcd_debugging_mvcc_watcher_total")


def watch_messages_received(client) -> float:
    """How many messages the server's Watch streams have received (gRPC's own count)."""
    return sum(sample.value for family in client.metrics() for sample in family.samples
               if sample.name == "grpc_server_msg_received_total" and sample.labels.get("grpc_method") == "Watch"
               and sample.labels.get("grpc_service") == "etcdserverpb.Watch")


def assert_an_idle_watch_stream_stays_open(client, asks_per_idle: int) -> None:
    """The stream asks the idle server for an answer (``asks_per_idle`` messages each
    IDLE_SECONDS of silence), gets it and stays open."""
    seen = []
    # the server's gauge of watchers, before ours: earlier tests' streams may have left it
    # off (3.3.25 can miscount watches cancelled as their stream closes)
    watchers_before = server_watchers(client)
    watcher = client.Watcher("idle/k")
    watcher.onEvent(lambda event: seen.append(event.value))
    watcher.runDaemon()
    try:
        stream = client._watch_stream()
        assert stream.connections == 1
        received = watch_messages_received(client)
        # the idleness under test (nothing to wait for): longer than one silence
        # check and its answer's timeout
        time.sleep(WatchConnection.IDLE_SECONDS + StreamPolicy.ANSWER_TIMEOUT + 2)
        assert stream.connections == 1, "the idle stream was taken for dead: %r" % list(watcher.errors)
        # it did ask: three silences of IDLE_SECONDS
        assert watch_messages_received(client) - received >= 3 * asks_per_idle
        assert not watcher.errors
        assert server_watchers(client) - watchers_before == 1  # the watcher's own, nothing left over
        client.put("idle/k", "v")
        wait_for(lambda: seen == [b"v"], 10, message="the event after the idle time")
    finally:
        watcher.stop()


@pytest.mark.etcd_versions("oldest", "newest")  # a 17-second wait
def test_an_idle_background_watch_stream_stays_open(client):
    """Nothing happens for longer than the stream's idle check and answer timeout: the
    server answers the progress requests the stream sends (3.3.25 too: its spec and its
    server have them), so the stream is not taken for dead, and events still come."""
    assert client._watch_stream().hub.progress_requests
    assert_an_idle_watch_stream_stays_open(client, asks_per_idle=1)  # a progress request


@pytest.mark.etcd_versions("oldest", "newest")
def test_real_etcd_answers_the_probe_of_a_server_without_progress_requests(clients):
    """For a server without progress requests (etcd 3.2's spec) the idle stream probes
    with a watch of its own instead; real servers answer it, and it is cancelled."""
    client = clients()
    client._watch_stream().hub.progress_requests = False  # as the 3.2 spec has it
    assert_an_idle_watch_stream_stays_open(client, asks_per_idle=2)  # a create and its cancel


def test_a_user_stream_waits_for_each_piece_at_most_the_client_timeout(etcd):
    client = make_client(etcd, timeout=1)
    try:
        with client.watch_create("limits/w") as stream:
            items = iter(stream)
            assert next(items).created is True
            started = time.monotonic()
            with pytest.raises(errors.Etcd3Timeout):
                next(items)  # nothing happens to the key
            assert 0.9 < time.monotonic() - started < 3
        # a stream call's own timeout wins over the client's
        with client.watch_create("limits/w", timeout=3) as stream:
            items = iter(stream)
            assert next(items).created is True
            started = time.monotonic()
            with pytest.raises(errors.Etcd3Timeout):
                next(items)
            assert 2.9 < time.monotonic() - started < 5
    finally:
        client.close()
    # a snapshot is a stream too, bounded per piece; its first piece waits for the backend's
    # commit, which took more than 1 s on a loaded CI disk, so this client allows 10 s a piece
    patient = make_client(etcd, timeout=10)
    try:
        assert sum(len(piece.blob or b"") for piece in patient.snapshot()) > 0
    finally:
        patient.close()


def test_a_watcher_request_create_and_an_election_observe_wait_as_long_as_it_takes(etcd):
    """The helpers' own streams are not cut by the client's timeout: a Watcher's by its own
    timeout (None: none, as in 0.1.6), Election.observe never."""
    client = make_client(etcd, timeout=1)
    other = make_client(etcd)
    try:
        watcher = client.Watcher("limits/rc")
        with watcher.request_create() as stream:
            items = iter(stream)
            assert next(items).created is True
            pending = Background(lambda: next(items))
            # well past the client's timeout, nothing happens and the stream waits on
            assert not pending.done.wait(2.5), "the stream ended: %r" % (pending.result(0),)
            other.put("limits/rc", "v")
            assert pending.result(timeout=10).events[0].kv.value == b"v"
        election = client.Election("limits-e", lease_ttl=10)
        election.campaign("leader")
        try:
            with election.observe() as stream:
                items = iter(stream)
                assert next(items).kv.value == b"leader"
                pending = Background(lambda: next(items))
                assert not pending.done.wait(2.5), "the observe stream ended: %r" % (pending.result(0),)
                election.proclaim("again")
                assert pending.result(timeout=10).kv.value == b"again"
        finally:
            election.resign()
    finally:
        other.delete_range("limits/", prefix=True)
        other.close()
        client.close()
