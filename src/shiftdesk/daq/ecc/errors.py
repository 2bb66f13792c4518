"""Errors raised by the ECC client.

Two families, so callers can tell them apart:

* :class:`ECCError`: the server answered and reported a failure (non-zero ``ErrorCode``),
  e.g. an invalid transition, a busy state machine, a missing configuration.
* :class:`ECCCommunicationError`: no usable answer came back. Its subclasses say why:
  :class:`ECCUnreachable` (connection refused or lost), :class:`ECCTimeout` (connect or
  operation timeout), :class:`ECCProtocolError` (an HTTP error page, a SOAP fault, XML that
  is not an ECC reply).

:class:`ECCValueError` is raised before anything is sent, for values that cannot be put on
the wire (a config name with a slash, a port that is not one).
"""

from __future__ import annotations

from shiftdesk.errors import ShiftdeskError

#: The message GET's server sends with a busy reply (``EccSoapServer.cpp``).
BUSY_MESSAGE = "The ECC state machine is busy!"


class ECCValueError(ShiftdeskError, ValueError):
    """A value (config id, data link, reply text) is not valid for the ECC interface."""


class ECCError(ShiftdeskError):
    """The ECC server answered with a non-zero ``ErrorCode``.

    Parameters
    ----------
    code : int
        The server's ``ErrorCode`` (GET uses the code of the failed transition, 1..9).
    message : str
        The server's ``ErrorMessage``.
    operation : str
        The SOAP operation that was called (``"Describe"``, ``"GetState"``, ...).
    server : str
        URL of the ECC server.
    """

    def __init__(self, code: int, message: str, operation: str, server: str) -> None:
        self.code = code
        self.message = message
        self.operation = operation
        self.server = server
        super().__init__(
            f"ECC server {server} refused {operation} (error {code}): {message or 'no message'}"
        )

    @property
    def busy(self) -> bool:
        """Whether the server refused because another transition is running."""
        return self.message.strip() == BUSY_MESSAGE


class ECCBusy(ECCError):
    """The server refused a command because a transition is still running; retry later."""


class ECCCommunicationError(ShiftdeskError):
    """No usable reply came back from an ECC server.

    Parameters
    ----------
    message : str
        What went wrong and what to check.
    operation : str
        The SOAP operation that was called.
    server : str
        URL of the ECC server.
    """

    def __init__(self, message: str, operation: str, server: str) -> None:
        self.operation = operation
        self.server = server
        super().__init__(message)


class ECCUnreachable(ECCCommunicationError, ConnectionError):
    """The connection was refused or lost: is ``getEccSoapServer`` running on that host/port?"""


class ECCTimeout(ECCCommunicationError, TimeoutError):
    """The server did not answer in time.

    ``phase`` is ``"connect"`` (no TCP connection within the connect timeout: host down or
    firewalled) or ``"operation"`` (connected, but no reply within the operation timeout:
    the server is hung or the transition takes longer than allowed).
    """

    def __init__(self, message: str, operation: str, server: str, phase: str) -> None:
        self.phase = phase
        super().__init__(message, operation, server)


class ECCProtocolError(ECCCommunicationError):
    """The server answered, but not with a valid ECC SOAP reply."""


class ECCHTTPError(ECCProtocolError):
    """The server answered with an HTTP error status and no SOAP envelope."""

    def __init__(self, message: str, operation: str, server: str, status: int) -> None:
        self.status = status
        super().__init__(message, operation, server)


class ECCSoapFault(ECCProtocolError):
    """The server answered with a SOAP fault (e.g. an operation it does not know)."""

    def __init__(
        self, message: str, operation: str, server: str, faultcode: str | None, detail: str
    ) -> None:
        self.faultcode = faultcode
        self.detail = detail
        super().__init__(message, operation, server)
