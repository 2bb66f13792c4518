"""The simulated config repository: ``describe-<name>.xcfg``, ``prepare-…``, ``configure-…``.

GET's server reads its configuration sets from a folder (``--config-repo-url``). The
simulator does the same. A describe file names the data senders the way GET's describe
sets do, one ``<Node id="CoBo">`` per board type with one ``<Instance id="0">`` per board;
``<DataSender id="CoBo[0]"/>`` elements are accepted too.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lxml import etree

from shiftdesk.daq.ecc.errors import ECCValueError
from shiftdesk.daq.ecc.types import CONFIG_TYPES, ConfigId, DataLink

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def config_path(config_dir: Path, kind: str, name: str) -> Path:
    """The file of one config set: ``<config_dir>/<kind>-<name>.xcfg``."""
    return Path(config_dir) / f"{kind}-{name}.xcfg"


def write_config_set(config_dir: str | Path, name: str, senders: Iterable[str]) -> ConfigId:
    """Write the three files of a config set describing ``senders``; return its ConfigId.

    Parameters
    ----------
    config_dir : str or Path
        The repository folder (created if missing).
    name : str
        Set name; the files are ``describe-<name>.xcfg`` etc.
    senders : iterable of str
        Data sender ids, e.g. ``["CoBo[0]"]`` or ``["Mutant[master]"]``.
    """
    config = ConfigId.same(name)
    folder = Path(config_dir)
    folder.mkdir(parents=True, exist_ok=True)
    nodes: dict[str, list[str]] = {}
    for sender in senders:
        DataLink(sender, "127.0.0.1", 1)  # validates the sender id
        node, _, rest = sender.partition("[")
        nodes.setdefault(node, []).append(rest.rstrip("]"))
    if not nodes:
        raise ECCValueError(f"config set {name!r} needs at least one data sender")
    describe = etree.Element("Setup", id=f"describe-{name}")
    for node, instances in nodes.items():
        el = etree.SubElement(describe, "Node", id=node)
        for instance in instances:
            etree.SubElement(el, "Instance", id=instance)
    prepare = etree.Element("Setup", id=f"prepare-{name}")
    etree.SubElement(prepare, "Parameter", id="readoutMode").text = "full"
    configure = etree.Element("Setup", id=f"configure-{name}")
    for node, instances in nodes.items():
        el = etree.SubElement(configure, "Node", id=node)
        for instance in instances:
            inst = etree.SubElement(el, "Instance", id=instance)
            etree.SubElement(inst, "Parameter", id="triggerMode").text = "external"
    for kind, root in zip(CONFIG_TYPES, (describe, prepare, configure), strict=True):
        etree.indent(root)
        path = config_path(folder, kind, name)
        tmp = path.with_suffix(".xcfg.tmp")
        tmp.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
        tmp.replace(path)  # never a half-written config file
    return config


def list_config_ids(config_dir: Path) -> list[ConfigId]:
    """Triplets ``name/name/name`` for every name with all three files, sorted."""
    names = sorted(
        p.name[len("describe-") : -len(".xcfg")] for p in Path(config_dir).glob("describe-*.xcfg")
    )
    out = []
    for name in names:
        if all(config_path(config_dir, kind, name).is_file() for kind in CONFIG_TYPES[1:]):
            try:
                out.append(ConfigId.same(name))
            except ECCValueError:
                continue  # a file name GET could not use either
    return out


def read_senders(path: Path) -> list[str]:
    """Data sender ids named in a describe file.

    Raises
    ------
    ECCValueError
        If the file is not XML or names no sender.
    """
    try:
        root = etree.fromstring(Path(path).read_bytes(), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ECCValueError(f"{path.name} is not valid XML: {exc}") from None
    senders = [el.get("id", "") for el in root.iter("DataSender") if el.get("id")]
    for node in root.iter("Node"):
        for instance in node.iter("Instance"):
            if instance.get("id") not in (None, "", "*"):
                senders.append(f"{node.get('id')}[{instance.get('id')}]")
    if not senders:
        raise ECCValueError(f"{path.name} describes no data sender")
    return senders
