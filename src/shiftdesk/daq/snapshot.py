"""Read-only views of the stored DAQ state: what every dashboard and script observes.

The poller and the controller write the tables; these frozen snapshots are what readers
get back, with the derived facts (offline, stale, consistent, legal commands) computed in
one place so that a dashboard and a script never disagree.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import datetime

from shiftdesk.daq.ecc.types import STATE_MACHINE, State, Transition
from shiftdesk.daq.records import (
    DataRouterRecord,
    DataSourceRecord,
    ECCServerRecord,
)
from shiftdesk.display import Markup, escape, html_repr, table
from shiftdesk.tracking import as_utc as utc
from shiftdesk.tracking import utcnow as now

#: Source kinds, classified by type (never by matching names, notes §1.9.3).
COBO = "CoBo"
MUTANT = "MuTAnT"
SOURCE_KINDS = (COBO, MUTANT)
#: Data router link types shiftdesk offers (GET also knows "Debug").
ROUTER_TYPES = ("ICE", "TCP", "FDT", "ZBUF")
#: Default GET ports.
ECC_PORT = 8083
ROUTER_PORT = 46005


def ecc_url(host: str, port: int) -> str:
    """The SOAP endpoint of an ECC server, ``http://host:port/``."""
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def sender_id(kind: str, instance: str) -> str:
    """GET's data sender id of a source: ``CoBo[0]``, ``Mutant[master]``."""
    return f"{'Mutant' if kind == MUTANT else 'CoBo'}[{instance}]"


class Command(enum.StrEnum):
    """A transition an operator can ask for; values are GET's SOAP operation names."""

    DESCRIBE = "Describe"
    PREPARE = "Prepare"
    CONFIGURE = "Configure"
    START = "Start"
    STOP = "Stop"
    PAUSE = "Pause"
    RESUME = "Resume"
    BREAKUP = "Breakup"
    UNDO = "Undo"

    @property
    def allowed_from(self) -> frozenset[State]:
        """States in which GET accepts this command."""
        return frozenset(STATE_MACHINE[self.value])

    def target(self, state: State) -> State:
        """The state this command leads to from ``state``."""
        return STATE_MACHINE[self.value][state]

    @property
    def needs_config(self) -> bool:
        """Describe, Prepare and Configure send the selected ConfigId."""
        return self in (Command.DESCRIBE, Command.PREPARE, Command.CONFIGURE)


#: What "Reset" does in each state: step back exactly one state (attpc-daq's RESET).
RESET_COMMAND: dict[State, Command] = {
    State.DESCRIBED: Command.UNDO,
    State.PREPARED: Command.UNDO,
    State.READY: Command.BREAKUP,
    State.RUNNING: Command.STOP,
    State.PAUSED: Command.STOP,
}
#: The commands shift crews press in the system panel, in panel order.
SYSTEM_COMMANDS = (
    Command.DESCRIBE,
    Command.PREPARE,
    Command.CONFIGURE,
    Command.START,
    Command.STOP,
    Command.BREAKUP,
    Command.UNDO,
)


def legal_commands(state: State | None) -> list[Command]:
    """Commands GET accepts in ``state`` (none when the state is unknown)."""
    if state is None:
        return []
    return [c for c in Command if state in c.allowed_from]


@dataclass(frozen=True)
class SourceView:
    """A data source: kind (CoBo or MuTAnT), instance, its ECC server and router."""

    kind: str
    instance: str
    server: str
    router: str

    @property
    def sender(self) -> str:
        """GET's sender id, e.g. ``CoBo[3]``."""
        return sender_id(self.kind, self.instance)


@dataclass(frozen=True)
class ServerView:
    """An ECC server as last stored by the poller or the controller.

    ``state`` is the last reading (``None`` before the first). ``online`` turns False
    after a failed poll; ``stale`` is True when the last good reading is older than
    two poll periods (the poller died, or the server stopped answering).
    """

    name: str
    host: str
    port: int
    state: State | None
    transition: Transition
    online: bool
    stale: bool
    error: str | None
    config: tuple[str, str, str] | None
    available_configs: tuple[tuple[str, str, str], ...]
    sources: tuple[SourceView, ...]
    polled_at: datetime | None
    seen_at: datetime | None
    changed_at: datetime | None
    busy_command: str | None = None
    config_root: str = ""

    def config_files(self) -> list[str]:
        """The selected config's files on the ECC host (``<config_root>/describe-<name>.xcfg``
        …), empty without a config root or a selected config."""
        if not self.config_root or self.config is None:
            return []
        root = self.config_root.rstrip("/")
        return [
            f"{root}/{kind}-{name}.xcfg"
            for kind, name in zip(("describe", "prepare", "configure"), self.config, strict=True)
        ]

    @property
    def url(self) -> str:
        """The SOAP endpoint, ``http://host:port/``."""
        return ecc_url(self.host, self.port)

    @property
    def has_mutant(self) -> bool:
        """Whether this server drives a MuTAnT (ordering rules, notes §1.6)."""
        return any(s.kind == MUTANT for s in self.sources)

    @property
    def transitioning(self) -> bool:
        """A transition is running on the server (or one of ours is in flight)."""
        return self.transition != Transition.NONE or self.busy_command is not None

    @property
    def status(self) -> str:
        """One word for the table: Offline, Stale, Unknown, a transition or the state."""
        if not self.online and self.polled_at is not None:
            return "Offline"
        if self.state is None:
            return "Unknown"
        if self.stale:
            return f"Stale ({self.state.label})"
        if self.transition != Transition.NONE:
            return self.transition.label
        return self.state.label

    @property
    def age_s(self) -> float | None:
        """Seconds since the last good reading."""
        seen = utc(self.seen_at)
        return None if seen is None else (now() - seen).total_seconds()

    @classmethod
    def from_record(
        cls,
        record: ECCServerRecord,
        sources: tuple[SourceView, ...],
        period_s: float,
        at: datetime,
        busy_command: str | None = None,
    ) -> ServerView:
        """Build the view; ``at`` is the time staleness is judged against."""
        seen = utc(record.seen_at)
        stale = seen is None or (at - seen).total_seconds() > 2 * period_s
        configs = tuple(tuple(c) for c in json.loads(record.available_configs or "[]"))
        selected = None
        if record.config_describe and record.config_prepare and record.config_configure:
            selected = (record.config_describe, record.config_prepare, record.config_configure)
        return cls(
            name=record.name,
            host=record.host,
            port=record.port,
            state=None if record.state is None else State(record.state),
            transition=Transition(record.transition or 0),
            online=bool(record.online),
            stale=stale,
            error=record.error,
            config=selected,
            available_configs=configs,  # type: ignore[arg-type,unused-ignore]
            sources=sources,
            polled_at=utc(record.polled_at),
            seen_at=seen,
            changed_at=utc(record.changed_at),
            busy_command=busy_command,
            config_root=record.config_root or "",
        )


@dataclass(frozen=True)
class RouterView:
    """A data router: where it listens, how it is reached over SSH, whether it is clean."""

    name: str
    host: str
    port: int
    link_type: str
    ssh_host: str | None
    ssh_user: str | None
    ssh_port: int
    folder: str | None
    clean: bool | None
    online: bool
    error: str | None
    checked_at: datetime | None

    @property
    def status(self) -> str:
        """Offline, Clean, Unsorted files, or Unknown."""
        if self.checked_at is None:
            return "Unknown"
        if not self.online:
            return "Offline"
        return {True: "Clean", False: "Unsorted files", None: "Unknown"}[self.clean]

    @classmethod
    def from_record(cls, record: DataRouterRecord) -> RouterView:
        """Build the view of a stored router."""
        return cls(
            name=record.name,
            host=record.host,
            port=record.port,
            link_type=record.link_type,
            ssh_host=record.ssh_host,
            ssh_user=record.ssh_user,
            ssh_port=record.ssh_port,
            folder=record.folder,
            clean=record.clean,
            online=bool(record.online),
            error=record.error,
            checked_at=utc(record.checked_at),
        )


def source_views(
    sources: list[DataSourceRecord],
    servers: dict[int, str],
    routers: dict[int, str],
) -> list[SourceView]:
    """Views of stored sources, CoBos by index first, then MuTAnTs."""

    def order(s: DataSourceRecord) -> tuple[int, int, str]:
        index = int(s.instance) if s.instance.isdigit() else 10**9
        return (SOURCE_KINDS.index(s.kind) if s.kind in SOURCE_KINDS else 9, index, s.instance)

    return [
        SourceView(s.kind, s.instance, servers[s.ecc_server_id], routers[s.data_router_id])
        for s in sorted(sources, key=order)
    ]


@dataclass(frozen=True)
class Snapshot:
    """Everything a shift dashboard shows, read from the database in one go.

    Attributes
    ----------
    experiment : str
        The active experiment.
    servers, routers, sources
        Per-device views.
    state : State or None
        The common state when every server agrees, is online and fresh; else None.
    consistent : bool
        Whether the servers agree (same state, none transitioning, all online, fresh).
    legal : list of Command
        System-wide commands that are legal right now (buttons to enable).
    run_number : int or None
        The open run, if a run is being taken.
    next_run_number : int
        The number the next run will get.
    """

    experiment: str
    taken_at: datetime
    poll_period_s: float
    poller_alive: bool
    servers: tuple[ServerView, ...]
    routers: tuple[RouterView, ...]
    sources: tuple[SourceView, ...]
    run_number: int | None
    run_started_at: datetime | None
    run_title: str
    run_class: str
    next_run_number: int
    active_commands: tuple[str, ...] = field(default=())

    @property
    def consistent(self) -> bool:
        """Every server online, fresh, in the same known state, none transitioning or
        held by a command in flight (an end-of-run file move holds routers, not servers)."""
        if not self.servers:
            return False
        states = {s.state for s in self.servers}
        return (
            len(states) == 1
            and None not in states
            and all(s.online and not s.stale and not s.transitioning for s in self.servers)
        )

    @property
    def state(self) -> State | None:
        """The common state, when :attr:`consistent`."""
        return self.servers[0].state if self.consistent else None

    @property
    def overall(self) -> str:
        """What the system panel says: the common state, or why there is none."""
        if not self.servers:
            return "No servers"
        if any(s.busy_command for s in self.servers):
            return "Busy"
        if any(not s.online and s.polled_at is not None for s in self.servers):
            return "Offline"
        if any(s.stale for s in self.servers):
            return "Stale"
        if any(s.transitioning for s in self.servers):
            return "Transitioning"
        state = self.state
        return "Inconsistent" if state is None else state.label

    @property
    def legal(self) -> list[Command]:
        """System commands legal now (Start also needs every router clean; Breakup is
        not offered while a run is open)."""
        state = self.state
        commands = [c for c in SYSTEM_COMMANDS if c in legal_commands(state)]
        if Command.START in commands and any(r.clean is False for r in self.routers):
            commands.remove(Command.START)
        if Command.BREAKUP in commands and self.run_number is not None:
            commands.remove(Command.BREAKUP)  # a run ends with Stop, which closes it
        return commands

    @property
    def run_duration_s(self) -> float | None:
        """Seconds since the open run started."""
        start = utc(self.run_started_at)
        return None if start is None else (now() - start).total_seconds()

    def server(self, name: str) -> ServerView:
        """The view of one server, by name."""
        for s in self.servers:
            if s.name == name:
                return s
        raise KeyError(f"no ECC server named {name!r}; known: {[s.name for s in self.servers]}")

    def __repr__(self) -> str:
        run = f"run {self.run_number} open" if self.run_number is not None else "no run"
        lines = [f"<DAQ {self.experiment}: {self.overall}, {run}, next run {self.next_run_number}>"]
        for s in self.servers:
            lines.append(f"  ECC {s.name:<12} {s.url:<28} {s.status}")
        for r in self.routers:
            lines.append(f"  router {r.name:<9} {r.host}:{r.port} {r.link_type} {r.status}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        def badge(text: str) -> Markup:
            css = "sd-ok"
            if text.startswith(("Offline", "Stale", "Unsorted", "Unknown")):
                css = "sd-bad" if text.startswith("Offline") else "sd-warn"
            return Markup(f"<span class='{css}'>{escape(text)}</span>")

        servers = [
            (
                s.name,
                s.url,
                badge(s.status),
                "/".join(s.config) if s.config else "—",
                ", ".join(src.sender for src in s.sources),
                "" if s.age_s is None else f"{s.age_s:.1f} s",
            )
            for s in self.servers
        ]
        routers = [
            (r.name, f"{r.host}:{r.port}", r.link_type, badge(r.status)) for r in self.routers
        ]
        run = (
            f"run {self.run_number} open" if self.run_number is not None else "no run open"
        ) + f", next run {self.next_run_number}"
        body = f"<div>{escape(self.overall)} · {escape(run)}</div>"
        body += table(servers, ["ECC server", "URL", "state", "config", "sources", "age"])
        body += table(routers, ["router", "address", "type", "files"])
        return html_repr("DAQ", self.experiment, repr(self), body)
