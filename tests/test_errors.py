"""Error mapping from every body shape the gateway uses (no server)."""
from __future__ import annotations

import pytest

from etcd3 import errors
from etcd3.errors import error_from_response

CASES = [
    # 3.2-3.3: {"error", "code"}
    (400, b'{"error":"etcdserver: key not found","code":3}', errors.ErrKeyNotFound, 3),
    # 3.4-3.5 upstream: {"error", "code", "message", "details"}
    (404, b'{"error":"etcdserver: requested lease not found","code":5,"message":"etcdserver: requested lease '
          b'not found","details":[]}', errors.ErrLeaseNotFound, 5),
    # 3.6 and newer builds: {"code", "message"} without "error"
    (401, b'{"code":16,"message":"etcdserver: invalid auth token","details":[]}', errors.ErrInvalidAuthToken, 16),
    (400, b'{"code":9,"message":"etcdserver: user name not found"}', errors.ErrUserNotFound, 9),
    (400, b'{"code":11,"message":"etcdserver: mvcc: required revision has been compacted"}', errors.ErrCompacted, 11),
    (503, b'{"code":14,"message":"etcdserver: request timed out, possibly due to previous leader failure"}',
     errors.ErrTimeoutDueToLeaderFail, 14),
    # an unknown message: ErrUnknownError of the gRPC code's class
    (400, b'{"code":3,"message":"proto: invalid value for bytes field key"}',
     errors.ErrUnknownError.InvalidArgument, 3),
    # no JSON at all: the HTTP status decides
    (503, b"upstream connect error", errors.ErrUnknownError.Unavailable, 14),
    (429, b"", errors.ErrUnknownError.ResourceExhausted, 8),
    (500, b"{}", errors.ErrUnknownError.Internal, 13),
]


@pytest.mark.parametrize("status,body,cls,code", CASES)
def test_mapping(status, body, cls, code):
    error = error_from_response(status, body)
    assert type(error) is cls
    assert isinstance(error, errors.Etcd3APIError) and isinstance(error, errors.Etcd3Exception)
    assert error.code == code and error.http_status == status
    assert error.message and error.message in str(error)
    # 0.1.6's attributes
    assert error.status == status and error.codeText == errors.GRPC_CODES[code]
    assert error.as_dict() == {"error": error.error, "code": code, "codeText": error.codeText, "status": status}
    if cls.__qualname__.startswith("ErrUnknownError."):
        assert isinstance(error, errors.ErrUnknownError) and isinstance(error, cls.__mro__[2])
        assert error.error == error.message
    else:
        assert error.error == cls.etcd_message and not isinstance(error, errors.ErrUnknownError)


def test_hierarchy_by_grpc_code():
    assert issubclass(errors.ErrKeyNotFound, errors.InvalidArgument)
    assert issubclass(errors.ErrLeaseNotFound, errors.NotFound)
    assert issubclass(errors.ErrPermissionDenied, errors.PermissionDenied)
    assert issubclass(errors.ErrNoLeader, errors.Unavailable)
    assert issubclass(errors.ErrInvalidAuthToken, errors.Unauthenticated)
    assert issubclass(errors.Etcd3WatchCanceled, errors.Etcd3StreamError)
    assert issubclass(errors.Etcd3TLSError, errors.Etcd3TransportError)


def test_unsupported_operation_names_the_version():
    error = errors.UnsupportedOperation("member_promote", "3.3.25", "3.4.23")
    assert "added in etcd 3.4" in str(error) and "3.3.25" in str(error)
    assert isinstance(error, AttributeError)
