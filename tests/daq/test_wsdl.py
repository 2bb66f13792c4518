"""shiftdesk's own ECC WSDL declares the same interface as the reference WSDL.

The reference (``../shared/reference/daq/ecc.wsdl``, the gSOAP-generated WSDL attpc-daq
used) may not be shipped; the package carries its own, written from the interface facts
in a different layout (named types). This test compares what matters on the wire:
operations, their request and reply elements, and each element's children and types.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import zeep
from lxml import etree

from shiftdesk.daq.ecc.client import NAMESPACE, OfflineTransport, wsdl_path

WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
XSD = "http://www.w3.org/2001/XMLSchema"
NS = {"w": WSDL, "s": SOAP, "x": XSD}


def _find_reference() -> Path | None:
    """The reference WSDL: from the environment, ../shared next to the repo, or /work/shared."""
    candidates = [
        os.environ.get("SHIFTDESK_ECC_REFERENCE_WSDL"),
        Path(__file__).resolve().parents[3] / "shared" / "reference" / "daq" / "ecc.wsdl",
        "/work/shared/reference/daq/ecc.wsdl",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


REFERENCE = _find_reference()

Shape = tuple[str, tuple[tuple[str, str, str, str], ...]]


def _reference() -> Path:
    # The reference is not ours to ship (see its README), so a clone far from ../shared has
    # no copy; that is a missing input, not a broken interface.
    if REFERENCE is None:
        pytest.skip(
            "reference WSDL not found: check out ../shared next to the repo "
            "or set SHIFTDESK_ECC_REFERENCE_WSDL"
        )
    return REFERENCE


def _local(qname: str, nsmap: dict[str | None, str]) -> tuple[str | None, str]:
    prefix, _, name = qname.rpartition(":")
    return nsmap.get(prefix or None), name


def interface(path: Path) -> dict[str, object]:
    """What a WSDL says about the wire: namespace, binding style, operations and shapes."""
    root = etree.parse(str(path)).getroot()
    schema = root.find("w:types/x:schema", NS)
    assert schema is not None
    elements = {el.get("name"): el for el in schema.findall("x:element", NS)}
    types = {ct.get("name"): ct for ct in schema.findall("x:complexType", NS)}
    messages = {
        m.get("name"): m.find("w:part", NS).get("element") for m in root.findall("w:message", NS)
    }

    def shape(qname: str, context: etree._Element) -> Shape:
        namespace, name = _local(qname, context.nsmap)
        assert namespace == NAMESPACE, f"{qname} is not in urn:ecc"
        element = elements[name]
        ctype = element.find("x:complexType", NS)
        if ctype is None:  # a named type
            tns, tname = _local(element.get("type"), element.nsmap)
            assert tns == NAMESPACE
            ctype = types[tname]
        children = []
        for child in ctype.findall("x:sequence/x:element", NS):
            tns, tname = _local(child.get("type"), child.nsmap)
            children.append(
                (child.get("name"), f"{{{tns}}}{tname}",
                 child.get("minOccurs", "1"), child.get("maxOccurs", "1"))
            )  # fmt: skip
        return name, tuple(children)

    port_type = root.find("w:portType", NS)
    operations = {}
    for op in port_type.findall("w:operation", NS):
        inp, out = op.find("w:input", NS), op.find("w:output", NS)
        in_msg = messages[_local(inp.get("message"), inp.nsmap)[1]]
        out_msg = messages[_local(out.get("message"), out.nsmap)[1]]
        operations[op.get("name")] = (shape(in_msg, root), shape(out_msg, root))
    binding = root.find("w:binding", NS)
    binding_ops = {
        op.get("name"): (
            op.find("s:operation", NS).get("soapAction"),
            op.find("w:input/s:body", NS).get("use"),
            op.find("w:output/s:body", NS).get("use"),
        )
        for op in binding.findall("w:operation", NS)
    }
    service = root.find("w:service", NS)
    port = service.find("w:port", NS)
    return {
        "targetNamespace": root.get("targetNamespace"),
        "schema": (schema.get("targetNamespace"), schema.get("elementFormDefault", "unqualified")),
        "style": binding.find("s:binding", NS).get("style"),
        "transport": binding.find("s:binding", NS).get("transport"),
        "binding": (binding.get("name"), service.get("name"), port.get("name")),
        "operations": operations,
        "binding_ops": binding_ops,
    }


def test_packaged_wsdl_matches_the_reference_interface() -> None:
    ours = interface(Path(wsdl_path()))
    reference = interface(_reference())
    assert set(ours["operations"]) == set(reference["operations"])
    for key in reference:
        assert ours[key] == reference[key], key


def test_the_reference_declares_the_documented_interface() -> None:
    # Guards the comparison above against comparing two empty or broken parses.
    reference = interface(_reference())
    operations = reference["operations"]
    assert isinstance(operations, dict)
    assert len(operations) == 13
    transition = (
        ("configID", f"{{{XSD}}}string", "1", "1"),
        ("table", f"{{{XSD}}}string", "1", "1"),
    )
    assert operations["Configure"][0] == ("Configure", transition)
    assert operations["GetState"][1][0] == "ResponseState"
    assert [c[0] for c in operations["GetState"][1][1]] == [
        "ErrorCode", "ErrorMessage", "State", "Transition"
    ]  # fmt: skip
    assert operations["ServerExit"][1][0] == "Response"
    assert reference["schema"] == (NAMESPACE, "qualified")
    assert reference["style"] == "document"


def test_a_difference_in_shape_would_be_caught(tmp_path: Path) -> None:
    changed = tmp_path / "ecc.wsdl"
    text = Path(wsdl_path()).read_text()
    changed.write_text(
        text.replace('name="Transition" type="xs:int"', 'name="Transition" type="xs:string"')
    )
    assert interface(changed) != interface(Path(wsdl_path()))


def test_both_wsdls_load_offline_in_zeep() -> None:
    # The reference imports the SOAP-ENC schema by URL; the offline transport serves it.
    for path in (wsdl_path(), str(_reference())):
        client = zeep.Client(path, transport=OfflineTransport())
        service = client.bind("ecc", "ecc")
        assert {"GetState", "Describe", "Configure", "Special"} <= set(dir(service))


def test_a_wsdl_importing_a_remote_schema_is_refused(tmp_path: Path) -> None:
    from shiftdesk.daq.ecc import ECCValueError

    text = Path(wsdl_path()).read_text()
    remote = text.replace(
        '<xs:complexType name="NoArguments">',
        '<xs:import namespace="urn:x" schemaLocation="http://example.invalid/x.xsd"/>'
        '<xs:complexType name="NoArguments">',
    )
    path = tmp_path / "remote.wsdl"
    path.write_text(remote)
    with pytest.raises(ECCValueError, match="offline"):
        zeep.Client(str(path), transport=OfflineTransport())
