"""The SOAP side of the simulated ECC server: parse requests, write gSOAP-shaped replies.

Replies copy what GET's gSOAP server sends (DAQ notes §1.2): a ``SOAP-ENV`` envelope, the
reply wrapper prefixed ``ecc:`` and its children *unqualified*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
#: Namespaces the simulated server answers to: the one deployed clients use, and the one
#: GET's own sources declare (see notes §1.2).
ACCEPTED_NAMESPACES = ("urn:ecc", "urn:http://localhost:8083/")

OPERATIONS = (
    "ServerExit",
    "GetConfigIDs",
    "GetState",
    "Describe",
    "Prepare",
    "Configure",
    "Start",
    "Stop",
    "Pause",
    "Resume",
    "Breakup",
    "Undo",
    "Special",
)

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)

_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"'
    ' xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
    ' xmlns:ecc="urn:ecc"><SOAP-ENV:Body>'
)
_TAIL = "</SOAP-ENV:Body></SOAP-ENV:Envelope>"


class SoapRequestError(Exception):
    """The request is not a SOAP call this server knows (answered with a Client fault)."""


@dataclass
class SoapRequest:
    """One parsed call: operation name, namespace, and the parameters that were kept.

    ``dropped`` lists the parameters the server ignored (``ns0:``-prefixed ones when the
    server reproduces gSOAP's behaviour).
    """

    operation: str
    namespace: str
    params: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


def parse_request(body: bytes, drop_prefixed: bool = False) -> SoapRequest:
    """Parse a SOAP 1.1 request body.

    Parameters
    ----------
    body : bytes
        The HTTP request body.
    drop_prefixed : bool
        Ignore child parameters written with a namespace prefix (``<ns0:configID>``), as a
        gSOAP server built from GET's header does.

    Raises
    ------
    SoapRequestError
        If the body is not a SOAP envelope, or the operation or namespace is unknown.
    """
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapRequestError(f"Malformed XML: {exc}") from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapRequestError("Not a SOAP 1.1 Envelope")
    soap_body = root.find(f"{{{SOAP_ENV}}}Body")
    children = [el for el in soap_body if isinstance(el.tag, str)] if soap_body is not None else []
    if not children:
        raise SoapRequestError("No operation in the SOAP Body")
    call = children[0]
    qname = etree.QName(call)
    if qname.localname not in OPERATIONS or qname.namespace not in ACCEPTED_NAMESPACES:
        raise SoapRequestError(
            f"Method '{qname.localname}' not implemented: method name or namespace not recognized"
        )
    request = SoapRequest(operation=qname.localname, namespace=qname.namespace or "")
    for child in call:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        if drop_prefixed and child.prefix is not None:
            request.dropped.append(name)
            continue
        request.params[name] = child.text or ""
    return request


def _wrap(element: str, fields: list[tuple[str, object]]) -> bytes:
    inner = "".join(
        f"<{name}/>" if value in ("", None) else f"<{name}>{escape(str(value))}</{name}>"
        for name, value in fields
    )
    return (_HEAD + f"<ecc:{element}>{inner}</ecc:{element}>" + _TAIL).encode("utf-8")


def response(code: int, message: str) -> bytes:
    """A ``Response`` reply (ServerExit)."""
    return _wrap("Response", [("ErrorCode", code), ("ErrorMessage", message)])


def response_text(code: int, message: str, text: str) -> bytes:
    """A ``ResponseText`` reply (transitions, GetConfigIDs, Special)."""
    return _wrap("ResponseText", [("ErrorCode", code), ("ErrorMessage", message), ("Text", text)])


def response_state(code: int, message: str, state: int, transition: int) -> bytes:
    """A ``ResponseState`` reply (GetState)."""
    return _wrap(
        "ResponseState",
        [("ErrorCode", code), ("ErrorMessage", message), ("State", state),
         ("Transition", transition)],
    )  # fmt: skip


def fault(faultcode: str, faultstring: str) -> bytes:
    """A SOAP 1.1 fault envelope (sent with HTTP 500, as gSOAP does)."""
    return (
        _HEAD
        + f"<SOAP-ENV:Fault><faultcode>{escape(faultcode)}</faultcode>"
        + f"<faultstring>{escape(faultstring)}</faultstring></SOAP-ENV:Fault>"
        + _TAIL
    ).encode("utf-8")
