"""A TLS certificate problem on a cluster client fails at once, not at the deadline.

A member whose certificate fails verification (signed by a CA the client does not
trust, or made for another host name) cannot heal by trying again: the call moves on
to the other members and, when every one has failed so, raises ``Etcd3TLSError``
naming each member and its certificate problem (see etcd3.transport.endpoints).

The members are one real TLS etcd serving three client URLs (three ports): the
certificate is the same on each, as on the members of a cluster, and one process
starts much faster than a cluster.  Its certificate is valid for 127.0.0.1 only, so
``localhost`` is a name it does not cover.
"""
from __future__ import annotations

import asyncio
import ssl
import time

import pytest

from etcd3 import AioClient, Client, errors
from etcd3.testing.server import EtcdServer, free_port, make_certs
from etcd3.transport.endpoints import certificate_problem

pytestmark = pytest.mark.etcd_versions("oldest", "newest")

TIMEOUT = 10
FAST = 2.0  # "at once": well under TIMEOUT, with room for a busy machine


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The members' PKI (server certificate for 127.0.0.1 only) and another CA's."""
    root = tmp_path_factory.mktemp("pki")
    return make_certs(root / "members", hosts=("127.0.0.1",)), make_certs(root / "other")


def three_url_server(version, certs):
    """A TLS etcd serving its client API on three ports, and those three URLs."""
    server = EtcdServer(version=version, tls=certs)
    urls = [server.endpoint] + ["https://127.0.0.1:%d" % free_port("127.0.0.1") for _ in range(2)]
    server.extra_args = ["--listen-client-urls", ",".join(urls), "--advertise-client-urls", ",".join(urls)]
    return server, urls


@pytest.fixture(scope="module")
def members(etcd_version, pki):
    server, urls = three_url_server(etcd_version, pki[0])
    server.start()
    yield urls
    server.kill()  # (nothing to keep; a graceful stop of 3.3 waits for the clients' connections)
    server.stop()


def on_name(urls, host):
    return [url.replace("127.0.0.1", host) for url in urls]


def check_tls_error(error, urls, problem):
    assert isinstance(error, errors.Etcd3TLSError), repr(error)
    text = str(error)
    assert "every member" in text, text
    for url in urls:
        assert url + ": TLS failure: " in text, text
    assert text.count(problem) == len(urls), text
    assert error.endpoints == urls


def sync_failure(**kwargs):
    start = time.monotonic()
    with pytest.raises(errors.Etcd3TLSError) as info:
        Client(timeout=TIMEOUT, **kwargs).range("k")
    return info.value, time.monotonic() - start


def aio_failure(**kwargs):
    async def go():
        client = AioClient(timeout=TIMEOUT, **kwargs)
        try:
            start = time.monotonic()
            with pytest.raises(errors.Etcd3TLSError) as info:
                await client.range("k")
            return info.value, time.monotonic() - start
        finally:
            await client.close()

    return asyncio.run(asyncio.wait_for(go(), 3 * TIMEOUT))


@pytest.mark.parametrize("failure", [sync_failure, aio_failure], ids=["sync", "aio"])
def test_a_ca_that_did_not_sign_the_members(members, pki, failure):
    error, seconds = failure(endpoints=members, verify=str(pki[1].ca))
    assert seconds < FAST, seconds
    check_tls_error(error, members, "certificate verify failed: unable to get local issuer certificate")
    assert certificate_problem(error) is not None


@pytest.mark.parametrize("failure", [sync_failure, aio_failure], ids=["sync", "aio"])
def test_a_host_name_the_certificate_does_not_cover(members, pki, failure):
    urls = on_name(members, "localhost")
    error, seconds = failure(endpoints=urls, verify=str(pki[0].ca))
    assert seconds < FAST, seconds
    check_tls_error(error, urls, "mismatch")
    assert "localhost" in certificate_problem(error)


def test_a_member_with_a_bad_certificate_is_passed_over(members, pki):
    # the first member's name is not in its certificate; the others are good: the calls
    # go to them at once (the sync client meets the bad one reading the version, the aio
    # client on its first call, a write)
    urls = on_name(members[:1], "localhost") + members[1:]
    start = time.monotonic()
    client = Client(endpoints=urls, verify=str(pki[0].ca), timeout=TIMEOUT)
    try:
        client.put("tls/k", "v")
        assert client.range("tls/k").kvs[0].value == b"v"
        assert client.endpoints.in_use != urls[0]
    finally:
        client.close()

    async def go():
        async with AioClient(endpoints=urls, verify=str(pki[0].ca), timeout=TIMEOUT) as aio:
            await aio.put("tls/k", "w")
            return (await aio.range("tls/k")).kvs[0].value, (await aio.delete_range("tls/k")).deleted

    assert asyncio.run(asyncio.wait_for(go(), 3 * TIMEOUT)) == (b"w", 1)
    assert time.monotonic() - start < 2 * FAST


def test_a_certificate_changed_under_a_client(etcd_version, pki, tmp_path):
    # the members are given a certificate of another CA while the client runs: unary
    # calls (reads and writes), raw calls and a watch stream, sync and aio, fail at once
    members_pki, other_pki = pki
    server, urls = three_url_server(etcd_version, members_pki)
    server.start()
    try:
        client = Client(endpoints=urls, verify=str(members_pki.ca), timeout=TIMEOUT)
        client.put("k", "v")
        server.tls = other_pki  # (the harness reads /health with the new CA)
        server._ssl = None
        server.kill()  # (a graceful stop of 3.3 waits ~2 s for the open connections)
        server.start()

        calls = {"range": lambda: client.range("k"), "put": lambda: client.put("k", "w"),
                 "raw": lambda: client.call_rpc("/kv/range", {"key": "k"}, raw=True),
                 "watch": lambda: next(iter(client.watch_create(key="k")))}
        for name, call in calls.items():
            start = time.monotonic()
            with pytest.raises(errors.Etcd3TLSError) as info:
                call()
            assert time.monotonic() - start < FAST, name
            assert certificate_problem(info.value) == "unable to get local issuer certificate", name
            for url in urls:
                assert url in str(info.value), (name, str(info.value))
        client.close()

        async def aio_calls():
            aio = AioClient(endpoints=urls, verify=str(other_pki.ca), timeout=TIMEOUT)
            await aio.put("k", "x")  # (trusting the new CA: a call as any)
            await aio.close()
            aio = AioClient(endpoints=urls, verify=str(members_pki.ca), timeout=TIMEOUT)
            failed = []
            for name, call in (("range", lambda: aio.range("k")), ("put", lambda: aio.put("k", "y")),
                               ("raw", lambda: aio.call_rpc("/kv/range", {"key": "k"}, raw=True))):
                start = time.monotonic()
                with pytest.raises(errors.Etcd3TLSError) as info:
                    await call()
                failed.append((name, time.monotonic() - start, certificate_problem(info.value)))
            await aio.close()
            return failed

        for name, seconds, problem in asyncio.run(asyncio.wait_for(aio_calls(), 6 * TIMEOUT)):
            assert seconds < FAST, name
            assert problem == "unable to get local issuer certificate", name
    finally:
        server.kill()
        server.stop()


def test_only_certificate_problems_count():
    # a handshake cut short (a member restarting) or a refused connection is no
    # certificate problem: the call goes on trying until its deadline
    eof = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
    assert certificate_problem(errors.Etcd3TLSError("TLS failure: %s" % eof, "https://h:1", eof)) is None
    assert certificate_problem(errors.Etcd3ConnectionError("refused", "https://h:1")) is None
    refused = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required")
    refused.reason = "TLSV13_ALERT_CERTIFICATE_REQUIRED"
    assert "refused the client's certificate" in certificate_problem(
        errors.Etcd3TLSError("TLS failure", "https://h:1", refused))
