"""Describing the hardware: ECC servers, data routers and sources, replaced atomically.

:func:`easy_setup` builds the usual AT-TPC layouts (N CoBos, one ECC server for all or
one per CoBo on incrementing addresses, an optional MuTAnT); :func:`apply_setup` stores
any layout, replacing the previous one in a single transaction after every value has
been checked, so a bad address leaves the old setup untouched.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from shiftdesk.daq.errors import DAQStateError, SetupError
from shiftdesk.daq.records import (
    CommandRecord,
    DataRouterRecord,
    DataSourceRecord,
    ECCServerRecord,
    RunRecord,
)
from shiftdesk.daq.snapshot import COBO, ECC_PORT, MUTANT, ROUTER_PORT, ROUTER_TYPES, SOURCE_KINDS
from shiftdesk.storage import Database

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$")  # fmt: skip
_NAME = re.compile(r"^[A-Za-z0-9_.\[\]-]{1,128}$")


def check_host(value: object, what: str) -> str:
    """An IP address or host name, else :class:`SetupError` saying what is wrong."""
    if not isinstance(value, str) or not value.strip():
        raise SetupError(f"{what}: the address must be an IP address or host name, got {value!r}")
    host = value.strip()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    # Anything made only of digits and dots was meant as an IPv4 address and is not one.
    if re.fullmatch(r"[\d.]+", host) or not _HOSTNAME.match(host):
        raise SetupError(
            f"{what}: {host!r} is not an IP address (like 192.168.41.60) or a host name"
        )
    return host


def check_port(value: object, what: str) -> int:
    """A TCP port number 1–65535, else :class:`SetupError`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise SetupError(f"{what}: port {value!r} is not a TCP port (a whole number 1-65535)")
    return value


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise SetupError(
            f"{what}: name {value!r} must be 1-128 letters, digits or _ . - [ ] (no spaces)"
        )
    return value


@dataclass(frozen=True)
class ServerSpec:
    """An ECC server to set up."""

    name: str
    host: str
    port: int = ECC_PORT
    config_root: str = ""
    log_path: str = ""


@dataclass(frozen=True)
class RouterSpec:
    """A data router to set up; ``folder`` is its working folder (found by lsof if None)."""

    name: str
    host: str
    port: int = ROUTER_PORT
    link_type: str = "TCP"
    ssh_host: str | None = None
    ssh_user: str | None = None
    ssh_port: int = 22
    folder: str | None = None


@dataclass(frozen=True)
class SourceSpec:
    """A CoBo or MuTAnT, the ECC server that drives it and the router it sends to."""

    kind: str
    instance: str
    server: str
    router: str


@dataclass(frozen=True)
class Setup:
    """A whole layout, checked on construction."""

    servers: tuple[ServerSpec, ...]
    routers: tuple[RouterSpec, ...]
    sources: tuple[SourceSpec, ...]

    def __post_init__(self) -> None:
        servers = [_check_name(s.name, "ECC server") for s in self.servers]
        routers = [_check_name(r.name, "data router") for r in self.routers]
        for names, what in ((servers, "ECC server"), (routers, "data router")):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise SetupError(f"duplicate {what} names: {dupes}; names must be unique")
        endpoints = [(check_host(s.host, s.name), check_port(s.port, s.name)) for s in self.servers]
        if len(set(endpoints)) != len(endpoints):
            raise SetupError("two ECC servers have the same address and port")
        for r in self.routers:
            check_host(r.host, r.name)
            check_port(r.port, r.name)
            check_port(r.ssh_port, f"{r.name} ssh")
            if r.ssh_host is not None:
                check_host(r.ssh_host, f"{r.name} ssh")
            if r.link_type not in ROUTER_TYPES:
                raise SetupError(
                    f"{r.name}: link type {r.link_type!r} is not one of {ROUTER_TYPES} "
                    "(upper case matters: GET ignores 'tcp')"
                )
        if not self.sources:
            raise SetupError("a setup needs at least one data source (CoBo or MuTAnT)")
        seen: set[tuple[str, str]] = set()
        for src in self.sources:
            if src.kind not in SOURCE_KINDS:
                raise SetupError(f"source kind {src.kind!r} is not one of {SOURCE_KINDS}")
            if not re.fullmatch(r"[A-Za-z0-9_]+", src.instance or ""):
                raise SetupError(f"source instance {src.instance!r} must be letters/digits")
            if (src.kind, src.instance) in seen:
                raise SetupError(f"two sources are {src.kind}[{src.instance}]")
            seen.add((src.kind, src.instance))
            if src.server not in servers:
                raise SetupError(f"{src.kind}[{src.instance}]: no ECC server {src.server!r}")
            if src.router not in routers:
                raise SetupError(f"{src.kind}[{src.instance}]: no data router {src.router!r}")
        unused = sorted(set(servers) - {s.server for s in self.sources})
        if unused:
            raise SetupError(f"ECC servers without sources: {unused}; remove them")


def _step(host: str, i: int, what: str) -> str:
    try:
        return str(ipaddress.ip_address(host) + i)
    except ValueError:
        raise SetupError(
            f"{what}: {host!r} must be an IP address to step through addresses"
        ) from None
    except ipaddress.AddressValueError as exc:  # pragma: no cover - overflow past .255.255
        raise SetupError(f"{what}: {host} + {i} is past the end of the address space") from exc


def easy_setup(
    n_cobos: int,
    *,
    ecc_host: str,
    ecc_port: int = ECC_PORT,
    one_server_per_cobo: bool = False,
    step: str = "ip",
    mutant: bool = True,
    router_host: str | None = None,
    router_port: int = ROUTER_PORT,
    router_type: str = "TCP",
    ssh_user: str | None = None,
    ssh_port: int = 22,
    router_folder: str | None = None,
) -> Setup:
    """The usual layout: ``n_cobos`` CoBos (and a MuTAnT), each with its own data router.

    Parameters
    ----------
    n_cobos : int
        Number of CoBos, ``CoBo[0]`` … ``CoBo[n-1]``.
    ecc_host, ecc_port : str, int
        Address of the (first) ECC server.
    one_server_per_cobo : bool
        One ECC server per CoBo (``ECC_0``, ``ECC_1``, …, ``ECC_mutant``) on incrementing
        addresses, instead of one server (``ECC``) for every source.
    step : {"ip", "port"}
        What increments between servers and routers: the IP address (real DAQ hosts) or the
        port (simulated servers on one host).
    mutant : bool
        Add ``Mutant[master]`` (its own server when ``one_server_per_cobo``).
    router_host, router_port, router_type
        Address of the first data router (default: the ECC host) and the link type.
    ssh_user, ssh_port
        How the end-of-run worker logs into the router hosts.
    router_folder : str, optional
        Working folder of the routers; ``{i}`` is replaced by the router index. ``None``
        lets the worker find it (lsof).
    """
    if isinstance(n_cobos, bool) or not isinstance(n_cobos, int) or not 0 <= n_cobos <= 1000:
        raise SetupError(f"number of CoBos {n_cobos!r} must be a whole number 0-1000")
    if n_cobos == 0 and not mutant:
        raise SetupError("a setup needs at least one CoBo or the MuTAnT")
    if step not in ("ip", "port"):
        raise SetupError(f"step {step!r} must be 'ip' or 'port'")
    if router_type not in ROUTER_TYPES:
        raise SetupError(f"router type {router_type!r} is not one of {ROUTER_TYPES}")
    ecc_host = check_host(ecc_host, "ECC server")
    check_port(ecc_port, "ECC server")
    router_host = check_host(router_host or ecc_host, "data router")
    check_port(router_port, "data router")

    def at(host: str, port: int, i: int, what: str) -> tuple[str, int]:
        if step == "ip":
            return _step(host, i, what), port
        return host, check_port(port + i, what)

    members: list[tuple[str, str]] = [(COBO, str(i)) for i in range(n_cobos)]
    if mutant:
        members.append((MUTANT, "master"))
    servers: list[ServerSpec] = []
    routers: list[RouterSpec] = []
    sources: list[SourceSpec] = []
    if not one_server_per_cobo:
        servers.append(ServerSpec("ECC", ecc_host, ecc_port))
    for i, (kind, instance) in enumerate(members):
        label = "mutant" if kind == MUTANT else instance
        if one_server_per_cobo:
            host, port = at(ecc_host, ecc_port, i, "ECC server")
            servers.append(ServerSpec(f"ECC_{label}", host, port))
        rhost, rport = at(router_host, router_port, i, "data router")
        routers.append(
            RouterSpec(
                name=f"data_{label}",
                host=rhost,
                port=rport,
                link_type=router_type,
                ssh_host=rhost,
                ssh_user=ssh_user,
                ssh_port=ssh_port,
                folder=None if router_folder is None else router_folder.format(i=i),
            )
        )
        sources.append(SourceSpec(kind, instance, servers[-1].name, routers[-1].name))
    return Setup(tuple(servers), tuple(routers), tuple(sources))


def apply_setup(database: Database, experiment_id: int, setup: Setup) -> None:
    """Replace the experiment's servers, routers and sources by ``setup`` in one transaction.

    Raises
    ------
    DAQStateError
        While a run is open or a command is in flight (the hardware is in use).
    """
    with database.session() as session:
        open_run = session.scalars(
            select(RunRecord.run_number).where(
                RunRecord.experiment_id == experiment_id, RunRecord.stopped_at.is_(None)
            )
        ).first()
        if open_run is not None:
            raise DAQStateError(f"run {open_run} is open: stop it before changing the setup")
        active = session.scalars(
            select(CommandRecord.command).where(
                CommandRecord.experiment_id == experiment_id,
                CommandRecord.status.in_(("queued", "running")),
            )
        ).first()
        if active is not None:
            raise DAQStateError(f"a {active} command is in flight: wait for it first")
        for table in (DataSourceRecord, ECCServerRecord, DataRouterRecord):
            session.execute(delete(table).where(table.experiment_id == experiment_id))
        server_ids: dict[str, ECCServerRecord] = {}
        for s in setup.servers:
            server_ids[s.name] = ECCServerRecord(
                experiment_id=experiment_id,
                name=s.name,
                host=check_host(s.host, s.name),
                port=s.port,
                config_root=s.config_root,
                log_path=s.log_path,
                available_configs="[]",
                transition=0,
                online=False,
            )
        router_ids: dict[str, DataRouterRecord] = {}
        for r in setup.routers:
            router_ids[r.name] = DataRouterRecord(
                experiment_id=experiment_id,
                name=r.name,
                host=check_host(r.host, r.name),
                port=r.port,
                link_type=r.link_type,
                ssh_host=r.ssh_host,
                ssh_user=r.ssh_user,
                ssh_port=r.ssh_port,
                folder=r.folder,
                online=False,
            )
        session.add_all([*server_ids.values(), *router_ids.values()])
        session.flush()
        session.add_all(
            DataSourceRecord(
                experiment_id=experiment_id,
                kind=src.kind,
                instance=src.instance,
                ecc_server_id=server_ids[src.server].id,
                data_router_id=router_ids[src.router].id,
            )
            for src in setup.sources
        )


def setup_from(
    servers: Sequence[ServerSpec], routers: Sequence[RouterSpec], sources: Sequence[SourceSpec]
) -> Setup:
    """A checked :class:`Setup` from lists of specs."""
    return Setup(tuple(servers), tuple(routers), tuple(sources))


def setup_from_json(data: Any) -> Setup:
    """A checked :class:`Setup` from its JSON form (what the gate receives).

    Raises
    ------
    SetupError
        The JSON does not describe a setup.
    """
    try:
        return setup_from(
            [ServerSpec(**s) for s in data["servers"]],
            [RouterSpec(**r) for r in data["routers"]],
            [SourceSpec(**s) for s in data["sources"]],
        )
    except (KeyError, TypeError) as exc:
        raise SetupError(f"not a DAQ setup: {exc}") from exc
