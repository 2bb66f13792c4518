"""One ECC server of the DAQ as an object: :class:`ECCServer`.

What a shift crew says about one server -- where it is, what it drives, its state and
transition as the poller last read them, the configs it offers and the one selected, the
calls sent to it, and its transitions -- in one place. It holds no state of its own: it
reads the experiment's stored snapshot each time, and its commands go through its
:class:`~shiftdesk.daq.system.DAQSystem` (permissions, the gate on a hub, one hardware
owner running them), so a server object and the dashboard can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shiftdesk.daq.commands import CommandHandle
from shiftdesk.daq.ecc import ConfigId, ECCCall, State, Transition
from shiftdesk.daq.records import CallRecord
from shiftdesk.daq.snapshot import Command, ServerView, SourceView, legal_commands
from shiftdesk.display import escape, html_repr, table

if TYPE_CHECKING:
    from shiftdesk.daq.system import DAQSystem, LogEntry

Config = ConfigId | str | Sequence[str]


class ECCServer:
    """One ECC server of the active experiment (get them from :attr:`DAQSystem.servers`).

    Reading is the stored state (no call to the server); commands are per-server
    transitions of :meth:`DAQSystem.server_command`, each returning its
    :class:`~shiftdesk.daq.commands.CommandHandle` at once. Only operators may send
    them; on a hub they go through the gate.

    Examples
    --------
    ::

        daq = DAQSystem()
        cobo = daq.servers["ECC_0"]
        cobo.state, cobo.transition, cobo.address      # State.IDLE, NONE, '10.0.0.5:8083'
        cobo.config_choices                            # [ConfigId('cobo0', ...), ...]
        cobo.describe("cobo0").wait()                  # select the config, then Describe
        cobo.prepare().wait(); cobo.configure().wait()
        cobo.calls[0]                                  # the newest call sent to it
    """

    def __init__(self, system: DAQSystem, name: str) -> None:
        self.system = system
        self.name = name
        self.view  # noqa: B018 - a name not in the setup is refused here, clearly

    # -- reading -------------------------------------------------------------------------
    @property
    def view(self) -> ServerView:
        """The stored reading and setup of this server now (a frozen snapshot view)."""
        return self.system.snapshot().server(self.name)

    @property
    def host(self) -> str:
        """Host name or address of the ECC server."""
        return self.view.host

    @property
    def port(self) -> int:
        """Its SOAP port."""
        return self.view.port

    @property
    def address(self) -> str:
        """``host:port``."""
        view = self.view
        return f"{view.host}:{view.port}"

    @property
    def url(self) -> str:
        """The SOAP endpoint."""
        return self.view.url

    @property
    def sources(self) -> tuple[SourceView, ...]:
        """The data sources (CoBos, the MuTAnT) this server drives."""
        return self.view.sources

    @property
    def role(self) -> str:
        """``"MuTAnT"`` when it drives the MuTAnT (first on Prepare and Stop), else ``"CoBo"``."""
        return "MuTAnT" if self.view.has_mutant else "CoBo"

    @property
    def state(self) -> State | None:
        """The state the poller last read (None before the first answer)."""
        return self.view.state

    @property
    def transition(self) -> Transition:
        """The transition in progress on the server (``Transition.NONE`` when idle)."""
        return self.view.transition

    @property
    def status(self) -> str:
        """What the dashboard shows: the state, Busy, Offline or Stale."""
        return self.view.status

    @property
    def online(self) -> bool:
        """Whether it answered the last poll."""
        return self.view.online

    @property
    def config(self) -> ConfigId | None:
        """The selected config (describe, prepare, configure names)."""
        config = self.view.config
        return None if config is None else ConfigId(*config)

    @property
    def config_choices(self) -> list[ConfigId]:
        """The configs the server offered (GetConfigIDs), as last stored."""
        return [ConfigId(*c) for c in self.view.available_configs]

    @property
    def legal(self) -> list[Command]:
        """The transitions its state allows now."""
        return legal_commands(self.state)

    @property
    def calls(self) -> list[CallRecord]:
        """The ECC operations commands sent to it (who, when, outcome), newest first."""
        return self.system.calls(self.name)

    def log(self, limit: int = 50) -> list[LogEntry]:
        """What happened to this server, newest first: calls with outcome and duration,
        its part of commands in flight, offline and back online
        (:meth:`DAQSystem.server_log`)."""
        return self.system.server_log(self.name, limit)

    def commands(self, limit: int = 20) -> list[CommandHandle]:
        """The newest commands that touched this server, newest first."""
        return [
            c
            for c in self.system.commands(limit)
            if c.target == self.name or any(s.name == self.name for s in c.steps)
        ]

    def wire_history(self) -> list[ECCCall]:
        """Expert: the raw SOAP of this process's recent calls to it, oldest first."""
        return self.system.wire_history(self.name)

    @property
    def can_operate(self) -> bool:
        """Whether you may send it commands and select its config."""
        return self.system.can_operate

    # -- configs -------------------------------------------------------------------------
    def refresh_configs(self) -> list[ConfigId]:
        """Ask the server for its config sets (GetConfigIDs) and store them."""
        return self.system.refresh_configs(self.name).get(self.name, [])

    def select_config(self, config: Config) -> None:
        """Select its config: one name, ``"describe/prepare/configure"`` or a ConfigId."""
        self.system.select_config(config, server=self.name)

    # -- commands ------------------------------------------------------------------------
    def send(self, command: Command | str) -> CommandHandle:
        """Send one transition (``"reset"`` steps back one state)."""
        return self.system.server_command(self.name, command)

    def _with_config(self, command: Command, config: Config | None) -> CommandHandle:
        if config is not None:
            self.select_config(config)
        return self.send(command)

    def describe(self, config: Config | None = None) -> CommandHandle:
        """Describe (selecting ``config`` first when given)."""
        return self._with_config(Command.DESCRIBE, config)

    def prepare(self, config: Config | None = None) -> CommandHandle:
        """Prepare (selecting ``config`` first when given)."""
        return self._with_config(Command.PREPARE, config)

    def configure(self, config: Config | None = None) -> CommandHandle:
        """Configure with its data links (selecting ``config`` first when given)."""
        return self._with_config(Command.CONFIGURE, config)

    def start(self) -> CommandHandle:
        """Start this server alone (expert: a run is started with ``DAQSystem.start``)."""
        return self.send(Command.START)

    def stop(self) -> CommandHandle:
        """Stop this server alone (expert: a run is stopped with ``DAQSystem.stop``)."""
        return self.send(Command.STOP)

    def pause(self) -> CommandHandle:
        """Pause (Running → Paused)."""
        return self.send(Command.PAUSE)

    def resume(self) -> CommandHandle:
        """Resume (Paused → Running)."""
        return self.send(Command.RESUME)

    def breakup(self) -> CommandHandle:
        """Breakup (Ready → Prepared)."""
        return self.send(Command.BREAKUP)

    def undo(self) -> CommandHandle:
        """Undo one step (Prepared → Described → Idle)."""
        return self.send(Command.UNDO)

    def reset(self) -> CommandHandle:
        """Step back one state (Stop, Breakup or Undo as fits)."""
        return self.send("reset")

    # -- showing -------------------------------------------------------------------------
    def widget(self) -> Any:
        """The live server row of the dashboard (needs ``shiftdesk[widgets]``)."""
        from shiftdesk._views import view

        return view(self)

    def _text(self, view: ServerView) -> str:
        config = "/".join(view.config) if view.config else "no config"
        role = "MuTAnT" if view.has_mutant else "CoBo"
        return f"<ECC server {view.name} ({role}) {view.host}:{view.port} {view.status}, {config}>"

    def __repr__(self) -> str:
        try:
            return self._text(self.view)
        except Exception as exc:  # a repr must not raise: say why instead
            return f"<ECC server {self.name}: {exc}>"

    def _repr_html_(self) -> str:
        view = self.view
        facts = [
            ("address", f"{view.host}:{view.port}"),
            ("drives", ", ".join(s.sender for s in view.sources) or "—"),
            ("status", view.status),
            ("transition", view.transition.label if view.transitioning else "—"),
            ("config", "/".join(view.config) if view.config else "—"),
            ("offers", ", ".join("/".join(c) for c in view.available_configs) or "—"),
            ("legal now", ", ".join(c.value for c in legal_commands(view.state)) or "—"),
        ]
        body = table(facts)
        if view.error:
            body += f"<div class='sd-bad'>{escape(view.error)}</div>"
        calls = [
            (
                c.started_at,
                c.operation,
                c.owner,
                "ok" if c.ok else c.message,
                f"{c.duration_s:.1f} s",
            )
            for c in self.system.calls(self.name, limit=10)
        ]
        if calls:
            body += table(calls, ["when", "operation", "by", "outcome", "seconds"])
        return html_repr("ECC server", view.name, self._text(view), body)
