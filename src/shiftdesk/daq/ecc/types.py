"""Values of the GET ECC interface: states, transitions, config ids and data links.

The XML shapes follow GET's own ``ConfigId`` and ``DataLinkSet`` serialisations (see the
DAQ notes, §1.3): they travel as escaped *text* inside the SOAP string parameters.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from shiftdesk.daq.ecc.errors import ECCValueError

# Payloads come from servers and config files: never resolve entities or fetch anything.
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, remove_comments=True, huge_tree=True
)


class State(enum.IntEnum):
    """State of an ECC server's state machine (GET ``SM::State``)."""

    OFF = 0
    IDLE = 1
    DESCRIBED = 2
    PREPARED = 3
    READY = 4
    RUNNING = 5
    PAUSED = 6

    @property
    def label(self) -> str:
        """The name shift crews use ("Idle", "Ready", ...)."""
        return self.name.capitalize()


class Transition(enum.IntEnum):
    """Transition running on an ECC server (GET ``SM::Transition``); 0 when none."""

    NONE = 0
    DESCRIBING = 1
    PREPARING = 2
    CONFIGURING = 3
    STARTING = 4
    STOPPING = 5
    PAUSING = 6
    RESUMING = 7
    BREAKING_UP = 8
    RESETTING = 9

    @property
    def label(self) -> str:
        """Human-readable name ("Describing", "Breaking up", ...)."""
        return self.name.replace("_", " ").capitalize()


#: SOAP operation of each transition, and back.
TRANSITION_OPERATIONS: dict[Transition, str] = {
    Transition.DESCRIBING: "Describe",
    Transition.PREPARING: "Prepare",
    Transition.CONFIGURING: "Configure",
    Transition.STARTING: "Start",
    Transition.STOPPING: "Stop",
    Transition.PAUSING: "Pause",
    Transition.RESUMING: "Resume",
    Transition.BREAKING_UP: "Breakup",
    Transition.RESETTING: "Undo",
}
OPERATION_TRANSITIONS: dict[str, Transition] = {v: k for k, v in TRANSITION_OPERATIONS.items()}

#: Legal transitions of GET's state machine: operation -> {from state: to state}.
#: Breakup is legal from Ready, Running and Paused (they are all GET's "Active" state).
STATE_MACHINE: dict[str, dict[State, State]] = {
    "Describe": {State.IDLE: State.DESCRIBED},
    "Prepare": {State.DESCRIBED: State.PREPARED},
    "Configure": {State.PREPARED: State.READY},
    "Start": {State.READY: State.RUNNING},
    "Stop": {State.RUNNING: State.READY, State.PAUSED: State.READY},
    "Pause": {State.RUNNING: State.PAUSED},
    "Resume": {State.PAUSED: State.RUNNING},
    "Breakup": {State.READY: State.PREPARED, State.RUNNING: State.PREPARED,
                State.PAUSED: State.PREPARED},
    "Undo": {State.DESCRIBED: State.IDLE, State.PREPARED: State.DESCRIBED},
}  # fmt: skip

CONFIG_TYPES = ("describe", "prepare", "configure")
#: Data router link types GET knows. Case matters on real hardware ("tcp" fails silently).
LINK_TYPES = ("ICE", "TCP", "ZBUF", "FDT", "Debug")

_CONFIG_NAME = re.compile(r"^[^\s/\\\x00-\x1f]+$")
_SENDER = re.compile(r"^[A-Za-z][\w-]*\[[^\[\]\s]+\](\.[A-Za-z][\w-]*\[[^\[\]\s]+\])*$")


def parse_xml(text: str | bytes | etree._Element, what: str) -> etree._Element:
    """Parse an XML payload (text or already an element) without resolving entities.

    Raises
    ------
    ECCValueError
        If ``text`` is not well-formed XML.
    """
    if isinstance(text, etree._Element):
        return text
    if isinstance(text, str):
        text = text.strip().encode("utf-8")
    if not text:
        raise ECCValueError(f"{what}: the XML text is empty")
    try:
        return etree.fromstring(text, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ECCValueError(f"{what}: not well-formed XML ({exc})") from None


def _check_name(kind: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ECCValueError(f"ConfigId: the {kind} name must be a non-empty string, got {value!r}")
    if not _CONFIG_NAME.match(value):
        raise ECCValueError(
            f"ConfigId: the {kind} name {value!r} cannot be a config file name "
            f"({kind}-<name>.xcfg): remove spaces, slashes and control characters"
        )
    return value


@dataclass(frozen=True, order=True)
class ConfigId:
    """A GET configuration triplet: the names of the describe, prepare and configure sets.

    The server looks them up as ``describe-<name>.xcfg``, ``prepare-<name>.xcfg`` and
    ``configure-<name>.xcfg`` in its config repository.

    Parameters
    ----------
    describe, prepare, configure : str
        Config set names (non-empty, no whitespace or slashes).
    """

    describe: str
    prepare: str
    configure: str

    def __post_init__(self) -> None:
        for kind in CONFIG_TYPES:
            _check_name(kind, getattr(self, kind))

    @classmethod
    def same(cls, name: str) -> ConfigId:
        """The triplet using ``name`` for all three sets."""
        return cls(name, name, name)

    @classmethod
    def parse(cls, text: str) -> ConfigId:
        """Parse the ``describe/prepare/configure`` form that :meth:`__str__` prints."""
        parts = text.split("/") if isinstance(text, str) else []
        if len(parts) != 3:
            raise ECCValueError(
                f"ConfigId: expected 'describe/prepare/configure' (three names), got {text!r}"
            )
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.describe}/{self.prepare}/{self.configure}"

    def file_names(self) -> dict[str, str]:
        """The config file of each set, e.g. ``{"describe": "describe-cobo0.xcfg", ...}``."""
        return {kind: f"{kind}-{getattr(self, kind)}.xcfg" for kind in CONFIG_TYPES}

    def to_element(self) -> etree._Element:
        """The ``<ConfigId>`` element GET expects."""
        root = etree.Element("ConfigId")
        for kind in CONFIG_TYPES:
            sub = etree.SubElement(root, "SubConfigId", type=kind)
            sub.text = getattr(self, kind)
        return root

    def to_xml(self) -> str:
        """The ``<ConfigId>`` XML text (no declaration), as sent in ``configID``."""
        return etree.tostring(self.to_element(), encoding="unicode")

    @classmethod
    def from_xml(cls, xml: str | bytes | etree._Element) -> ConfigId:
        """Read a ``<ConfigId>`` element or its text.

        Whitespace is ignored; sub-config types other than describe/prepare/configure (GET
        has an internal "hardware" type) are skipped; all three of those must be present.

        Raises
        ------
        ECCValueError
            If the XML is not a ``ConfigId``, a type is missing or repeated, or a name is
            empty.
        """
        root = parse_xml(xml, "ConfigId")
        if root.tag != "ConfigId":
            raise ECCValueError(f"ConfigId: expected a <ConfigId> element, got <{root.tag}>")
        names: dict[str, str] = {}
        for sub in root:
            if sub.tag != "SubConfigId":
                continue
            kind = (sub.get("type") or "").strip()
            if kind not in CONFIG_TYPES:
                continue
            if kind in names:
                raise ECCValueError(f"ConfigId: the {kind!r} sub-config appears twice")
            names[kind] = (sub.text or "").strip()
        missing = [kind for kind in CONFIG_TYPES if kind not in names]
        if missing:
            raise ECCValueError(
                f"ConfigId: missing sub-config type(s) {', '.join(missing)} "
                f"(GET needs describe, prepare and configure)"
            )
        return cls(names["describe"], names["prepare"], names["configure"])


def parse_config_id_set(text: str | bytes) -> list[ConfigId]:
    """Parse GetConfigIDs' ``<ConfigIdSet>`` text into config ids (server order).

    Raises
    ------
    ECCValueError
        If the text is not a ``ConfigIdSet`` or one of its entries is not a valid ConfigId.
    """
    if isinstance(text, str | bytes) and not text.strip():
        return []
    root = parse_xml(text, "ConfigIdSet")
    if root.tag != "ConfigIdSet":
        raise ECCValueError(f"ConfigIdSet: expected a <ConfigIdSet> element, got <{root.tag}>")
    return [ConfigId.from_xml(child) for child in root if child.tag == "ConfigId"]


def config_id_set_xml(config_ids: Iterable[ConfigId]) -> str:
    """The ``<ConfigIdSet>`` text GetConfigIDs answers with (tab-indented, like GET)."""
    root = etree.Element("ConfigIdSet")
    for config in config_ids:
        root.append(config.to_element())
    etree.indent(root, space="\t")
    return etree.tostring(root, encoding="unicode")


def _check_port(value: object) -> int:
    if isinstance(value, bool):
        raise ECCValueError(f"DataLink: port must be an integer 1..65535, got {value!r}")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or not 1 <= value <= 65535:
        raise ECCValueError(f"DataLink: port must be an integer 1..65535, got {value!r}")
    return value


def _check_link_type(value: object) -> str:
    if isinstance(value, str):
        for known in LINK_TYPES:
            if value.strip().lower() == known.lower():
                return known
    raise ECCValueError(f"DataLink: type must be one of {', '.join(LINK_TYPES)}, got {value!r}")


@dataclass(frozen=True)
class DataLink:
    """Where one data sender (a CoBo, the MuTAnT) sends its data: a data router.

    Parameters
    ----------
    sender : str
        Data sender id as Describe reports it: ``Type[instance]``, e.g. ``CoBo[0]``,
        ``Mutant[master]``, ``CoBo[Crate0Slot0].Asad[0]``.
    ip : str
        IP address of the data router (an address, not a host name).
    port : int
        Data router port (GET's dataRouter listens on 46005 by default).
    type : str
        Link type: ICE, TCP, ZBUF, FDT or Debug. Case is normalised ("tcp" -> "TCP"),
        because GET silently fails on a lower-case type.
    name : str, optional
        The data router's name (``data0``); optional for GET.
    """

    sender: str
    ip: str
    port: int
    type: str = "TCP"
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.sender, str) or not _SENDER.match(self.sender):
            raise ECCValueError(
                f"DataLink: sender must look like 'CoBo[0]' or 'Mutant[master]' "
                f"(Type[instance]), got {self.sender!r}"
            )
        try:
            ip = str(ipaddress.ip_address(self.ip.strip() if isinstance(self.ip, str) else ""))
        except ValueError:
            raise ECCValueError(
                f"DataLink: ip must be an IP address such as 192.168.41.60 (not a host "
                f"name), got {self.ip!r}"
            ) from None
        object.__setattr__(self, "ip", ip)
        object.__setattr__(self, "port", _check_port(self.port))
        object.__setattr__(self, "type", _check_link_type(self.type))
        if self.name is not None and (not isinstance(self.name, str) or not self.name.strip()):
            raise ECCValueError(f"DataLink: name must be a non-empty string or None, got "
                                f"{self.name!r}")  # fmt: skip

    def to_element(self) -> etree._Element:
        """The ``<DataLink>`` element of a ``DataLinkSet``."""
        link = etree.Element("DataLink")
        etree.SubElement(link, "DataSender", id=self.sender)
        attrs: dict[str, Any] = {}
        if self.name is not None:
            attrs["name"] = self.name
        attrs.update(ipAddress=self.ip, port=str(self.port), type=self.type)
        etree.SubElement(link, "DataRouter", **attrs)
        return link

    def to_xml(self) -> str:
        """The ``<DataLink>`` XML text."""
        return etree.tostring(self.to_element(), encoding="unicode")

    @classmethod
    def from_xml(cls, xml: str | bytes | etree._Element) -> DataLink:
        """Read one ``<DataLink>`` element or its text.

        Raises
        ------
        ECCValueError
            If the element is not a DataLink or a value is missing or invalid.
        """
        link = parse_xml(xml, "DataLink")
        if link.tag != "DataLink":
            raise ECCValueError(f"DataLink: expected a <DataLink> element, got <{link.tag}>")
        sender = link.find("DataSender")
        router = link.find("DataRouter")
        if sender is None or router is None:
            raise ECCValueError("DataLink: needs one <DataSender> and one <DataRouter> element")
        for attr in ("ipAddress", "port", "type"):
            if router.get(attr) is None:
                raise ECCValueError(f"DataLink: <DataRouter> has no {attr!r} attribute")
        return cls(
            sender=sender.get("id", ""),
            ip=router.get("ipAddress", ""),
            port=router.get("port", ""),  # a str here; DataLink validates it to an int
            type=router.get("type", ""),
            name=router.get("name"),
        )


def data_link_set_xml(links: Sequence[DataLink]) -> str:
    """The ``<DataLinkSet>`` text Configure takes as its second parameter.

    Raises
    ------
    ECCValueError
        If ``links`` is empty or holds something that is not a :class:`DataLink`.
    """
    if isinstance(links, DataLink):
        links = [links]
    if not links:
        raise ECCValueError("Configure needs at least one DataLink (one per data sender)")
    root = etree.Element("DataLinkSet")
    for link in links:
        if not isinstance(link, DataLink):
            raise ECCValueError(f"expected DataLink objects, got {type(link).__name__}")
        root.append(link.to_element())
    return etree.tostring(root, encoding="unicode")


def _first_element(text: str | bytes, tag: str) -> str | bytes:
    """Cut ``text`` after the closing ``</tag>``: Configure's reply appends the config set."""
    if isinstance(text, str):
        end = text.find(f"</{tag}>")
        return text[: end + len(tag) + 3] if end >= 0 else text
    return text


def parse_data_link_set(text: str | bytes | etree._Element) -> list[DataLink]:
    """Parse a ``<DataLinkSet>`` (or Configure's reply, which starts with one).

    Raises
    ------
    ECCValueError
        If the text is not a DataLinkSet or a link is invalid.
    """
    root = parse_xml(
        text if isinstance(text, etree._Element) else _first_element(text, "DataLinkSet"),
        "DataLinkSet",
    )
    if root.tag != "DataLinkSet":
        raise ECCValueError(f"DataLinkSet: expected a <DataLinkSet> element, got <{root.tag}>")
    return [DataLink.from_xml(child) for child in root if child.tag == "DataLink"]


def data_sender_set_xml(senders: Iterable[str]) -> str:
    """The ``<DataSenderSet>`` text Describe answers with."""
    root = etree.Element("DataSenderSet")
    for sender in senders:
        etree.SubElement(root, "DataSender", id=sender)
    etree.indent(root, space="\t")
    return etree.tostring(root, encoding="unicode")


def parse_data_senders(text: str | bytes) -> list[str]:
    """The data sender ids in Describe's ``<DataSenderSet>`` reply (server order).

    Raises
    ------
    ECCValueError
        If the text is not a DataSenderSet.
    """
    root = parse_xml(text, "DataSenderSet")
    if root.tag != "DataSenderSet":
        raise ECCValueError(f"DataSenderSet: expected <DataSenderSet>, got <{root.tag}>")
    return [el.get("id", "") for el in root.iter("DataSender") if el.get("id")]
