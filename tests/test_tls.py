"""TLS: server certificates from our own CA (etcd3.testing.server.make_certs), client certificates.

Seen on the matrix: a missing client certificate fails the handshake with Etcd3TLSError
on every version (the alert is SSLV3_ALERT_BAD_CERTIFICATE up to 3.5.1, TLS 1.3's
TLSV13_ALERT_CERTIFICATE_REQUIRED on 3.5.16 / 3.5.30); plain http to the TLS port is
closed by the server without an answer: Etcd3ConnectionError (not a TLS error).
"""
from __future__ import annotations

import time
import warnings

import pytest
from urllib3.exceptions import InsecureRequestWarning

from etcd3 import Client, errors
from etcd3.testing.server import EtcdServer, make_certs
from etcd3.utils import Etcd3Warning
from helpers import Background


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_server(etcd_version, certs):
    """A server that requires client certificates; no test changes its state, so one
    per version and module (a fresh_etcd per test would only cost time)."""
    server = EtcdServer(version=etcd_version, tls=certs, client_cert_auth=True)
    server.start()
    yield server
    server.stop()


def client_cert(certs):
    return (str(certs.client_cert), str(certs.client_key))


def tls_client(server, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return Client(host=server.host, port=server.port, **kwargs)


def test_mutual_tls_put_and_range(tls_server, certs):
    client = tls_client(tls_server, protocol="https", cert=client_cert(certs), verify=str(certs.ca))
    assert client.server_version == tls_server.version
    assert client.baseurl == tls_server.endpoint
    client.put("tls/k", "v")
    assert client.range("tls/k").kvs[0].value == b"v"
    assert client.delete_range("tls/k").deleted == 1
    client.close()


def test_a_client_cert_implies_https(tls_server, certs):
    client = tls_client(tls_server, cert=client_cert(certs), verify=str(certs.ca))
    assert client.protocol == "https"
    assert client.range("tls/none").count == 0


def test_the_requests_session_has_the_tls_settings(tls_server, certs):
    # 0.1.6 code used client._session / _get itself: it reaches the TLS server as the client does
    client = tls_client(tls_server, cert=client_cert(certs), verify=str(certs.ca))
    assert (client.protocol, client.cert, client.verify) == ("https", client_cert(certs), str(certs.ca))
    assert client._session.cert == client_cert(certs) and client._session.verify == str(certs.ca)
    answer = client._get(client._url("/version", prefix=False))
    assert answer.json()["etcdserver"] == tls_server.version
    client.close()


def test_aio_client_mutual_tls(tls_server, certs):
    import asyncio
    from etcd3 import AioClient

    async def go():
        async with AioClient(tls_server.host, tls_server.port, cert=client_cert(certs),
                             verify=str(certs.ca)) as client:
            assert client.protocol == "https" and client.server_version == tls_server.version
            await client.put("tls/aio", "v")
            value = (await client.range("tls/aio")).kvs[0].value
            await client.delete_range("tls/aio")
            return value

    assert asyncio.run(asyncio.wait_for(go(), 60)) == b"v"


def test_without_client_cert_is_a_tls_error(tls_server, certs):
    start = time.monotonic()
    with pytest.raises(errors.Etcd3ConnectionError) as info:
        client = Client(tls_server.host, tls_server.port, protocol="https", verify=str(certs.ca))
        client.range("k")
    # the handshake is refused: a TLS error on every version of the matrix
    assert isinstance(info.value, errors.Etcd3TLSError), repr(info.value)
    assert info.value.endpoint == tls_server.endpoint
    assert tls_server.endpoint in str(info.value)
    assert time.monotonic() - start < 10


def test_default_verify_rejects_our_ca(tls_server, certs):
    # verify defaults to True (the system CAs) for https: our test CA is not one of them
    with pytest.raises(errors.Etcd3TLSError) as info:
        Client(tls_server.host, tls_server.port, protocol="https", cert=client_cert(certs)).range("k")
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value) or "certificate verify failed" in str(info.value)
    assert info.value.endpoint == tls_server.endpoint


def test_verify_false_warns_and_still_needs_a_client_cert(tls_server, certs):
    with pytest.warns(Etcd3Warning, match="verification"):
        client = Client(tls_server.host, tls_server.port, protocol="https", cert=client_cert(certs), verify=False)
        assert client.range("tls/none").count == 0
    with pytest.warns(Etcd3Warning, match="verification"):
        with pytest.raises(errors.Etcd3TLSError):
            Client(tls_server.host, tls_server.port, protocol="https", verify=False).range("k")


def test_verify_false_requests_do_not_warn_each_time(tls_server, certs):
    # the one Etcd3Warning at construction replaces urllib3's InsecureRequestWarning on
    # every request, also when the client was made inside a warnings.catch_warnings()
    # block (as pytest.warns and conftest.make_client do): the suppression must not live
    # in the process-wide warnings filters, which such a block restores on exit
    with pytest.warns(Etcd3Warning, match="verification"):
        client = Client(tls_server.host, tls_server.port, protocol="https", cert=client_cert(certs), verify=False)
    with warnings.catch_warnings(record=True) as caught:
        client.range("tls/none")
    assert [str(w.message)[:60] for w in caught if issubclass(w.category, InsecureRequestWarning)] == []


def test_plain_http_to_the_tls_port_fails_fast(tls_server):
    def call():
        with pytest.warns(Etcd3Warning, match="could not read the version"):
            client = Client(tls_server.host, tls_server.port, protocol="http", timeout=5)
        with pytest.raises(errors.Etcd3Exception) as info:
            client.range("k")
        return info.value

    start = time.monotonic()
    error = Background(call).result(timeout=20)
    assert time.monotonic() - start < 10
    # etcd closes the connection without an answer
    assert isinstance(error, errors.Etcd3ConnectionError), repr(error)
    assert error.endpoint == "http://%s:%d" % (tls_server.host, tls_server.port)


def test_tls_without_client_cert_auth(etcd_version, fresh_etcd_factory, certs):
    server = fresh_etcd_factory(tls=certs)
    client = tls_client(server, protocol="https", verify=str(certs.ca))
    client.put("tls/k", "v")
    assert client.range("tls/k").kvs[0].value == b"v"


@pytest.fixture
def fresh_etcd_factory(request):
    """fresh_etcd with EtcdServer arguments chosen at run time (certs made in a fixture)."""
    def make(**kwargs):
        request.node.add_marker(pytest.mark.etcd_args(**kwargs))
        return request.getfixturevalue("fresh_etcd")
    return make
