"""HTTP status codes, by the names of Go's ``net/http`` (etcd3-py 0.1.6's module
of the same name)."""
from __future__ import annotations

from typing import Dict

__all__ = ["HTTPStatus", "statusText", "StatusText"]


class HTTPStatus:
    """HTTP status codes as registered with IANA, named as Go's net/http names them."""

    StatusContinue = 100
    StatusSwitchingProtocols = 101
    StatusProcessing = 102
    StatusEarlyHints = 103
    StatusOK = 200
    StatusCreated = 201
    StatusAccepted = 202
    StatusNonAuthoritativeInfo = 203
    StatusNoContent = 204
    StatusResetContent = 205
    StatusPartialContent = 206
    StatusMultiStatus = 207
    StatusAlreadyReported = 208
    StatusIMUsed = 226
    StatusMultipleChoices = 300
    StatusMovedPermanently = 301
    StatusFound = 302
    StatusSeeOther = 303
    StatusNotModified = 304
    StatusUseProxy = 305
    StatusTemporaryRedirect = 307
    StatusPermanentRedirect = 308
    StatusBadRequest = 400
    StatusUnauthorized = 401
    StatusPaymentRequired = 402
    StatusForbidden = 403
    StatusNotFound = 404
    StatusMethodNotAllowed = 405
    StatusNotAcceptable = 406
    StatusProxyAuthRequired = 407
    StatusRequestTimeout = 408
    StatusConflict = 409
    StatusGone = 410
    StatusLengthRequired = 411
    StatusPreconditionFailed = 412
    StatusRequestEntityTooLarge = 413
    StatusRequestURITooLong = 414
    StatusUnsupportedMediaType = 415
    StatusRequestedRangeNotSatisfiable = 416
    StatusExpectationFailed = 417
    StatusTeapot = 418
    StatusMisdirectedRequest = 421
    StatusUnprocessableEntity = 422
    StatusLocked = 423
    StatusFailedDependency = 424
    StatusTooEarly = 425
    StatusUpgradeRequired = 426
    StatusPreconditionRequired = 428
    StatusTooManyRequests = 429
    StatusRequestHeaderFieldsTooLarge = 431
    StatusUnavailableForLegalReasons = 451
    StatusInternalServerError = 500
    StatusNotImplemented = 501
    StatusBadGateway = 502
    StatusServiceUnavailable = 503
    StatusGatewayTimeout = 504
    StatusHTTPVersionNotSupported = 505
    StatusVariantAlsoNegotiates = 506
    StatusInsufficientStorage = 507
    StatusLoopDetected = 508
    StatusNotExtended = 510
    StatusNetworkAuthenticationRequired = 511


statusText: Dict[int, str] = {
    100: "Continue",
    101: "Switching Protocols",
    102: "Processing",
    103: "Early Hints",
    200: "OK",
    201: "Created",
    202: "Accepted",
    203: "Non-Authoritative Information",
    204: "No Content",
    205: "Reset Content",
    206: "Partial Content",
    207: "Multi-Status",
    208: "Already Reported",
    226: "IM Used",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    305: "Use Proxy",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Request Entity Too Large",
    414: "Request URI Too Long",
    415: "Unsupported Media Type",
    416: "Requested Range Not Satisfiable",
    417: "Expectation Failed",
    418: "I'm a teapot",
    421: "Misdirected Request",
    422: "Unprocessable Entity",
    423: "Locked",
    424: "Failed Dependency",
    425: "Too Early",
    426: "Upgrade Required",
    428: "Precondition Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    451: "Unavailable For Legal Reasons",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
    506: "Variant Also Negotiates",
    507: "Insufficient Storage",
    508: "Loop Detected",
    510: "Not Extended",
    511: "Network Authentication Required",
}


def StatusText(code: int) -> str:
    """The reason phrase of an HTTP status code; "" for an unknown code (as Go's)."""
    return statusText.get(code, "")
