"""Error handling written against 0.1.6's classes: ErrLeaseNotFound, ErrEmptyKey,
ErrCompacted, ErrFutureRev, ErrLeaseTTLTooLarge, ErrMemberNotFound, the Etcd3Exception
base, their code/error/codeText/status/as_dict(), and the TypeErrors of the range
argument checks.  Compacts its server: needs a server of its own."""
import os
import sys

from etcd3 import Client
from etcd3.errors import (ErrCompacted, ErrEmptyKey, ErrFutureRev, ErrLeaseNotFound, ErrLeaseTTLTooLarge,
                          ErrMemberNotFound, Etcd3Exception, get_client_error)

HOST = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ETCD_HOST", "127.0.0.1")
PORT = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("ETCD_PORT", "2379"))


def main():
    client = Client(HOST, PORT)

    try:
        client.lease_revoke(123456789)
    except ErrLeaseNotFound as e:
        print(repr(e), e.as_dict())
        assert isinstance(e, Etcd3Exception)
        assert e.code == 5 and e.codeText == "NotFound" and e.status == 404
        assert e.error == "etcdserver: requested lease not found"
        assert e.as_dict() == {"error": "etcdserver: requested lease not found", "code": 5,
                               "codeText": "NotFound", "status": 404}
        assert repr(e) == str(e) == "<ErrLeaseNotFound error:'etcdserver: requested lease not found', code:5>"
    else:
        raise AssertionError("ErrLeaseNotFound was not raised")

    try:
        client.put("", "value")
    except ErrEmptyKey as e:
        print(repr(e))
        assert e.code == 3 and e.status == 400 and e.error == "etcdserver: key is not provided"
    else:
        raise AssertionError("ErrEmptyKey was not raised")

    try:
        client.put("errdemo/k", "v", lease=987654321)
    except ErrLeaseNotFound:
        pass
    else:
        raise AssertionError("a put with an unknown lease should raise ErrLeaseNotFound")

    old = client.put("errdemo/k", "1").header.revision
    current = client.put("errdemo/k", "2").header.revision
    client.compact(current)
    try:
        client.range("errdemo/k", revision=old)
    except ErrCompacted as e:
        print(repr(e))
        assert e.code == 11 and e.error == "etcdserver: mvcc: required revision has been compacted"
    else:
        raise AssertionError("ErrCompacted was not raised")
    try:
        client.compact(old)
    except Etcd3Exception as e:  # the base class catches them all
        assert isinstance(e, ErrCompacted)
    else:
        raise AssertionError("compacting an old revision again should fail")

    try:
        client.range("errdemo/k", revision=current + 1000)
    except ErrFutureRev as e:
        assert e.code == 11 and e.error == "etcdserver: mvcc: required revision is a future revision"
    else:
        raise AssertionError("ErrFutureRev was not raised")

    try:
        client.lease_grant(9000000001)
    except ErrLeaseTTLTooLarge as e:
        assert e.error == "etcdserver: too large lease TTL"
    else:
        raise AssertionError("ErrLeaseTTLTooLarge was not raised")

    try:
        client.member_remove(12345)
    except ErrMemberNotFound as e:
        assert e.code == 5 and e.error == "etcdserver: member not found"
    else:
        raise AssertionError("ErrMemberNotFound was not raised")

    for call, message in ((lambda: client.range(), "range() requires at least one argument of key,all"),
                          (lambda: client.range("a", range_end="b", prefix=True),
                           "range() requires at most one of param range_end or prefix or all")):
        try:
            call()
        except TypeError as e:
            assert str(e) == message, str(e)
        else:
            raise AssertionError("TypeError was not raised")

    try:
        raise ErrLeaseNotFound
    except ErrLeaseNotFound as e:
        assert e.code == 5 and e.error == "etcdserver: requested lease not found" and e.codeText is None

    made = get_client_error("etcdserver: requested lease not found", 5, 404)
    assert isinstance(made, ErrLeaseNotFound) and made.status == 404

    client.delete_range("errdemo/", prefix=True)
    client.close()
    print("OK")


if __name__ == "__main__":
    main()
