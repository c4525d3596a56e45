"""gRPC status codes, by the names of Go's ``google.golang.org/grpc/codes``
(etcd3-py 0.1.6's module of the same name)."""
from __future__ import annotations

from typing import Dict

__all__ = ["GRPCCode", "codeText"]


class GRPCCode:
    """The gRPC status codes as constants (``GRPCCode.NotFound == 5``)."""

    OK = 0
    Canceled = 1
    Unknown = 2
    InvalidArgument = 3
    DeadlineExceeded = 4
    NotFound = 5
    AlreadyExists = 6
    PermissionDenied = 7
    ResourceExhausted = 8
    FailedPrecondition = 9
    Aborted = 10
    OutOfRange = 11
    Unimplemented = 12
    Internal = 13
    Unavailable = 14
    DataLoss = 15
    Unauthenticated = 16


# code -> name, e.g. codeText[5] == 'NotFound'
codeText: Dict[int, str] = {value: name for name, value in vars(GRPCCode).items() if not name.startswith("_")}
