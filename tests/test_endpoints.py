"""The I/O-free endpoint selector and retry policy of cluster clients (no server)."""
from __future__ import annotations

import pytest

from etcd3 import errors
from etcd3.transport.duplex import connect_failure, may_send_elsewhere
from etcd3.transport.endpoints import (ROUND_PAUSE, CallAttempts, EndpointSelector, StaleAnswer, parse_endpoint,
                                       parse_endpoints)


def test_endpoint_forms():
    assert parse_endpoint("10.0.0.1:2379").url == "http://10.0.0.1:2379"
    assert parse_endpoint("10.0.0.1:2379", "https").url == "https://10.0.0.1:2379"
    assert parse_endpoint("https://etcd-1.example:2379/").url == "https://etcd-1.example:2379"
    assert parse_endpoint("[::1]:2379").host == "::1"
    assert parse_endpoint(("localhost", 2379)).url == "http://localhost:2379"
    assert [e.url for e in parse_endpoints("a:1, b:2,a:1")] == ["http://a:1", "http://b:2"]


@pytest.mark.parametrize("text", ["", "localhost", "http://host", "ftp://a:1", "a:0", "a:70000",
                                  "http://a:1/v3", "a b:1", "http://user@a:1", 2379])
def test_bad_endpoint_is_a_value_error_naming_it(text):
    with pytest.raises(ValueError) as info:
        parse_endpoint(text)
    assert repr(text) in str(info.value)


def test_no_endpoints_is_a_value_error():
    with pytest.raises(ValueError, match="empty"):
        parse_endpoints([])


def test_client_refuses_bad_endpoint_before_any_io():
    from etcd3 import AioClient, Client

    for cls in (Client, AioClient):
        with pytest.raises(ValueError, match="'not an endpoint'"):
            cls(endpoints=["127.0.0.1:1", "not an endpoint"])


def selector(n=3):
    return EndpointSelector(parse_endpoints(["m%d:2379" % i for i in range(n)]))


def refused(url):
    return connect_failure(ConnectionRefusedError(111, "refused"), url, 1)


def lost(url):
    return errors.Etcd3ConnectionError("connection lost", url)  # after the request went out


def test_only_unsent_requests_are_sent_elsewhere_unless_repeatable():
    assert may_send_elsewhere(refused("x"), False)
    assert not may_send_elsewhere(lost("x"), False)
    assert may_send_elsewhere(lost("x"), True)
    timeout = errors.Etcd3Timeout("no complete answer", "x")
    assert not may_send_elsewhere(timeout, False) and may_send_elsewhere(timeout, True)


def test_repeatable_call_moves_at_once_and_pauses_after_each_quorum_round():
    s = selector(3)
    attempts = s.attempts(True, 10)
    pauses = []
    for _ in range(4):
        pauses.append(attempts.failed(lost(attempts.endpoint.url)))
    # quorum of 3 is 2: after the 2nd and the 4th failure a pause of ~25 ms (10 % jitter)
    assert pauses[0] == 0 and pauses[2] == 0
    for pause in (pauses[1], pauses[3]):
        assert ROUND_PAUSE * 0.9 <= pause <= ROUND_PAUSE * 1.1
    assert [e.url for e, _ in attempts.failures] == ["http://m0:2379", "http://m1:2379", "http://m2:2379",
                                                     "http://m0:2379"]
    assert s.current == attempts.endpoint  # the client stays on the member that works next


def test_sent_write_gives_up_at_once_naming_every_endpoint():
    s = selector(3)
    attempts = s.attempts(False, 10)
    assert attempts.failed(refused("http://m0:2379")) == 0  # never left: the next member
    assert attempts.failed(lost("http://m1:2379")) is None  # may be applied: never again
    error = attempts.error()
    assert isinstance(error, errors.Etcd3ConnectionError)
    for i in range(3):
        assert "m%d:2379" % i in str(error)
    assert "not repeatable" in str(error)


def test_deadline_ends_the_retries():
    attempts = selector(3).attempts(True, 0.0)
    assert attempts.failed(lost("http://m0:2379")) is None


def test_a_try_leaves_time_for_the_other_members():
    attempts = selector(3).attempts(True, 30)
    assert 9 < attempts.try_timeout() <= 10  # a member that hangs gets a third of the time
    assert 1.0 <= selector(3).attempts(True, 1.5).try_timeout() <= 1.5
    assert 29 < selector(3).attempts(False, 30).try_timeout() <= 30  # a write is sent once: all of it


def test_unavailable_answer_moves_a_repeatable_call_only():
    s = selector(3)
    body = b'{"error":"etcdserver: no leader","code":14}'
    assert isinstance(s.attempts(True, 5).answered(503, body), errors.Etcd3ConnectionError)
    assert s.attempts(False, 5).answered(503, body) is None  # the write's caller gets ErrNoLeader
    assert s.attempts(True, 5).answered(400, b"{}") is None


def test_ordering_guard_refuses_an_older_revision_from_another_member():
    s = selector(3)
    first = s.attempts(True, 5)
    assert first.answered(200, b'{"header":{"member_id":"1","revision":"10"}}') is None
    first.failed(lost(first.endpoint.url))  # now on m1
    assert isinstance(first.answered(200, b'{"header":{"revision":"9"}}'), StaleAnswer)
    # the member that gave revision 10 may answer concurrent calls with older ones
    s.use(s.endpoints[0])
    assert s.attempts(True, 5).answered(200, b'{"header":{"revision":"9"}}') is None
    assert s.attempts(True, 5).answered(200, b'{"header":{"revision":"11"}}') is None
    assert s.revision == 11


def test_moving_is_once_per_failure_whatever_the_threads():
    s = selector(3)
    a, b = CallAttempts(s, True, 5), CallAttempts(s, True, 5)
    a.failed(lost("http://m0:2379"))
    b.failed(lost("http://m0:2379"))  # saw the same failure: no second move
    assert s.current.url == "http://m1:2379"


def test_replace_keeps_the_endpoint_in_use():
    s = selector(3)
    s.use(s.endpoints[2])
    s.replace(parse_endpoints(["m2:2379", "m9:2379"]))
    assert s.current.url == "http://m2:2379"


def test_a_member_that_is_not_etcd_is_skipped_with_a_warning():
    s = selector(3)
    with pytest.warns(Warning, match="404"):
        assert s.attempts(True, 5).answered(404, b"404 page not found") is not None
    # warned once: later 404s of that member are the API's own answers
    assert s.attempts(True, 5).answered(404, b"{}") is None
