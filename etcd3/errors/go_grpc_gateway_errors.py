"""The gRPC code -> HTTP status mapping of grpc-gateway's ``runtime`` package
(etcd3-py 0.1.6's module of the same name)."""
from __future__ import annotations

from typing import Dict

from .go_grpc_codes import GRPCCode as codes
from .go_net_http_status import HTTPStatus as http

__all__ = ["HTTPStatusFromCode"]

# the table of the grpc-gateway version 0.1.6 followed; newer gateways answer
# Canceled with 499, DeadlineExceeded with 504 and ResourceExhausted with 429
_STATUS_OF_CODE: Dict[int, int] = {
    codes.OK: http.StatusOK,
    codes.Canceled: http.StatusRequestTimeout,
    codes.Unknown: http.StatusInternalServerError,
    codes.InvalidArgument: http.StatusBadRequest,
    codes.DeadlineExceeded: http.StatusRequestTimeout,
    codes.NotFound: http.StatusNotFound,
    codes.AlreadyExists: http.StatusConflict,
    codes.PermissionDenied: http.StatusForbidden,
    codes.Unauthenticated: http.StatusUnauthorized,
    codes.ResourceExhausted: http.StatusForbidden,
    codes.FailedPrecondition: http.StatusPreconditionFailed,
    codes.Aborted: http.StatusConflict,
    codes.OutOfRange: http.StatusBadRequest,
    codes.Unimplemented: http.StatusNotImplemented,
    codes.Internal: http.StatusInternalServerError,
    codes.Unavailable: http.StatusServiceUnavailable,
    codes.DataLoss: http.StatusInternalServerError,
}


def HTTPStatusFromCode(code: int) -> int:
    """The HTTP status the gateway answers a gRPC error code with (500 for an unknown code)."""
    return _STATUS_OF_CODE.get(code, http.StatusInternalServerError)
