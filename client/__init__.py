"""A typed Python client and command-line tool for the washout service."""

from client.client import TlsOptions, WashoutClient
from client.errors import (
    InvalidRequestError,
    ProtocolNotFoundError,
    ServerError,
    ServiceUnavailableError,
    UnauthenticatedError,
    Violation,
    WashoutClientError,
)

__all__ = [
    "InvalidRequestError",
    "ProtocolNotFoundError",
    "ServerError",
    "ServiceUnavailableError",
    "TlsOptions",
    "UnauthenticatedError",
    "Violation",
    "WashoutClient",
    "WashoutClientError",
]
