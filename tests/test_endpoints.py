"""The I/O-free endpoint selector and retry policy of cluster clients (no server)."""
from __future__ import annotations

import pytest

from etcd3 import errors
from etcd3.transport.duplex import connect_failure, may_send_elsewhere
from etcd3.core import Request, Response
from etcd3.transport.endpoints import (GRPC_TIMEOUT, ROUND_PAUSE, CallAttempts, EndpointList, EndpointSelector,
                                       StaleAnswer, failover_flow, grpc_timeout, member_client_urls, parse_endpoint,
                                       parse_endpoints, server_deadline)


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


# -- failover_flow: the retry loop both clients drive (yields tries and pauses) -------------------

def connected_selector(n=3, prefix="/v3", version="3.5.16"):
    s = selector(n)
    s.prefix, s.client_version = prefix, version
    for endpoint in s.endpoints:
        s.record_version(endpoint, version)
    return s


def rpc(s, path="/v3/kv/range", idempotent=True, url=None):
    return Request("POST", (url or s.current.url) + path, {"Content-Type": "application/json"}, b"{}",
                   idempotent=idempotent)


def run_until_done(flow, answers):
    """Drive a failover flow: each try gets the next of ``answers`` (a Response, or an
    exception to throw in); pauses are recorded.  Returns (tries, pauses, result)."""
    tries, pauses = [], []
    answers = list(answers)
    step = next(flow)
    try:
        while True:
            if step.__class__ is float:
                pauses.append(step)
                step = flow.send(None)
                continue
            tries.append(step)
            answer = answers.pop(0)
            step = flow.throw(answer) if isinstance(answer, BaseException) else flow.send(answer)
    except StopIteration as stop:
        return tries, pauses, stop.value


def ok(body=b'{"header":{"revision":"5"}}'):
    return Response(200, {}, body)


def test_failover_flow_moves_a_read_at_once_and_hands_back_the_answer():
    s = connected_selector()
    followed = []
    flow = failover_flow(s, rpc(s), 30.0, followed.append, deadline_header=True)
    tries, pauses, result = run_until_done(flow, [refused("http://m0:2379"), lost("http://m1:2379"), ok()])
    assert [endpoint.url for endpoint, _, _ in tries] == ["http://m0:2379", "http://m1:2379", "http://m2:2379"]
    assert [sent.url for _, sent, _ in tries] == [e.url + "/v3/kv/range" for e in s.endpoints]
    assert len(pauses) == 1 and ROUND_PAUSE * 0.9 <= pauses[0] <= ROUND_PAUSE * 1.1  # after a quorum round
    assert result.status == 200 and followed[-1] is s.current and s.current.url == "http://m2:2379"
    # each try tells its member the try's own deadline, in gRPC's format
    first_budget = tries[0][2]
    assert 9 < first_budget <= 10
    assert tries[0][1].headers[GRPC_TIMEOUT] == server_deadline(int(first_budget * 100) / 100.0)


def test_failover_flow_without_a_deadline_of_the_caller_sends_no_grpc_timeout():
    s = connected_selector()
    request = rpc(s)
    tries, _, _ = run_until_done(failover_flow(s, request, 30.0, lambda e: None, deadline_header=False), [ok()])
    assert tries[0][1] is request  # the request itself: nothing copied on the steady path


def test_failover_flow_never_sends_a_sent_write_again():
    s = connected_selector()
    flow = failover_flow(s, rpc(s, "/v3/kv/put", idempotent=False), 30.0, lambda e: None, True)
    step = next(flow)
    assert step[0].url == "http://m0:2379"
    step = flow.throw(refused("http://m0:2379"))  # never left the client: the next member
    assert step[0].url == "http://m1:2379"
    with pytest.raises(errors.Etcd3ConnectionError, match="not repeatable"):
        flow.throw(lost("http://m1:2379"))


def test_failover_flow_server_deadline_on_a_write_is_a_give_up_not_a_resend():
    s = connected_selector()
    flow = failover_flow(s, rpc(s, "/v3/kv/put", idempotent=False), 5.0, lambda e: None, True)
    next(flow)
    cut = Response(504, {}, b'{"code":4, "message":"stream terminated by RST_STREAM with error code: CANCEL"}')
    with pytest.raises(errors.Etcd3ConnectionError) as info:
        flow.send(cut)
    assert isinstance(info.value.__cause__, errors.Etcd3Timeout)


def test_failover_flow_reads_a_new_members_version_and_uses_its_prefix():
    # a rolling upgrade: the client's spec is 3.4's (/v3); m1 runs 3.3 (/v3beta only)
    s = selector(3)
    s.prefix, s.client_version = "/v3", "3.4.23"
    s.record_version(s.endpoints[0], "3.4.23")
    flow = failover_flow(s, rpc(s), 30.0, lambda e: None, True)
    step = next(flow)
    assert step[1].url == "http://m0:2379/v3/kv/range"
    step = flow.throw(refused("http://m0:2379"))
    assert (step[1].method, step[1].url) == ("GET", "http://m1:2379/version")
    step = flow.send(Response(200, {}, b'{"etcdserver":"3.3.25","etcdcluster":"3.3.0"}'))
    assert step[1].url == "http://m1:2379/v3beta/kv/range"
    assert s.versions == {"http://m0:2379": "3.4.23", "http://m1:2379": "3.3.25"}
    with pytest.raises(StopIteration):
        flow.send(ok())


def test_a_failed_version_read_leaves_a_write_free_to_go_elsewhere():
    s = selector(3)
    s.prefix, s.client_version = "/v3", "3.5.16"
    flow = failover_flow(s, rpc(s, "/v3/kv/put", idempotent=False), 30.0, lambda e: None, True)
    step = next(flow)
    assert step[1].url == "http://m0:2379/version"
    step = flow.throw(lost("http://m0:2379"))  # the put itself was never sent
    assert step[1].url == "http://m1:2379/version"


def test_grpc_timeout_format():
    assert grpc_timeout(1.5) == "1500m"
    assert grpc_timeout(0.0001) == "1m"  # "0m" would mean no deadline to the gateway
    assert grpc_timeout(200000) == "200000S"
    # the server's deadline comes a little before the wait of the client: its answer comes first
    assert server_deadline(1.5) == "1450m" and server_deadline(0.06) == "30m"


def test_member_client_urls_skip_learners_and_members_not_started():
    from types import SimpleNamespace as Member

    members = [Member(name="a", clientURLs=["http://a:2379"], isLearner=False),
               Member(name="", clientURLs=[], isLearner=False),  # added, never started
               Member(name="l", clientURLs=["http://l:2379"], isLearner=True),
               Member(name="b", clientURLs=["http://b:2379", "http://a:2379"], isLearner=False)]
    assert member_client_urls(members) == ["http://a:2379", "http://b:2379"]


def test_sync_is_due_once_per_interval():
    s = EndpointSelector(parse_endpoints(["m0:1"]), sync_interval=0.05)
    assert not s.sync_due()  # not before the client is connected
    s.schedule_sync()
    assert not s.sync_due()
    s.sync_at = 0.0  # (the interval has passed)
    assert s.sync_due() and not s.sync_due()  # claimed: the next is an interval later


def test_endpoint_list_shows_the_one_in_use():
    shown = EndpointList(["http://a:1", "http://b:2"], "http://b:2")
    assert shown == ["http://a:1", "http://b:2"] and shown.in_use == "http://b:2"
    assert repr(shown) == "['http://a:1', 'http://b:2' (in use)]"
