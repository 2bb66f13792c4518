"""The DAQ's state rules: pure functions over a :class:`~shiftdesk.daq.snapshot.Snapshot`.

Whether a command may go out, to which servers, in which order and with which configs
and data links is decided here from a stored snapshot alone (notes §1.6, §1.9); nothing
here reads the database or talks to a server, so the rules are the same for a notebook,
a dashboard, the gate and the process that executes the command.

* one step at a time (Describe, Prepare, Configure, Start, Stop, Breakup, Undo; Reset
  steps back one state);
* system-wide commands only when every server is online, fresh, idle and in the same
  state, and no other command is in flight;
* ordering by source type: Prepare and Stop go to the MuTAnT's server first, Describe,
  Configure and Start to the CoBos' servers first.
"""

from __future__ import annotations

from collections.abc import Sequence

from shiftdesk.daq.control import ServerCall
from shiftdesk.daq.ecc import ConfigId, DataLink, State
from shiftdesk.daq.errors import DAQStateError, SetupError
from shiftdesk.daq.snapshot import RESET_COMMAND, Command, ServerView, Snapshot, legal_commands, utc

#: Servers driving a MuTAnT go first for these commands, last for the others (notes §1.6).
MUTANT_FIRST = frozenset({Command.PREPARE, Command.STOP})
COBO_FIRST = frozenset({Command.DESCRIBE, Command.CONFIGURE, Command.START})


def as_config(config: ConfigId | str | Sequence[str]) -> ConfigId:
    """A config choice as a :class:`ConfigId`: one name, ``"d/p/c"`` or three names."""
    if isinstance(config, ConfigId):
        return config
    if isinstance(config, str):
        parts = config.split("/")
        if len(parts) == 1:
            return ConfigId.same(config)
        if len(parts) == 3:
            return ConfigId(*parts)
        raise SetupError(
            f"config {config!r}: give one name, 'describe/prepare/configure', or a ConfigId"
        )
    parts = list(config)
    if len(parts) != 3:
        raise SetupError(f"config {config!r} needs three names: describe, prepare, configure")
    return ConfigId(*parts)


def recent(snap: Snapshot, server: ServerView) -> bool:
    """Whether ``server`` was read within the last two poll periods of ``snap``."""
    polled = utc(server.polled_at)
    if polled is None or (server.online and server.stale):
        return False
    return (snap.taken_at - polled).total_seconds() <= 2 * snap.poll_period_s


def links(snap: Snapshot, server: ServerView) -> tuple[DataLink, ...]:
    """The data links Configure sends to ``server``: one per source, to its router."""
    routers = {r.name: r for r in snap.routers}
    return tuple(
        DataLink(
            sender=src.sender,
            ip=routers[src.router].host,
            port=routers[src.router].port,
            type=routers[src.router].link_type,
        )
        for src in server.sources
    )


def server_call(snap: Snapshot, server: ServerView, command: Command) -> ServerCall:
    """What ``command`` sends to ``server``: its selected config (and links for Configure)."""
    if not command.needs_config:
        return ServerCall(server)
    if server.config is None:
        raise DAQStateError(
            f"ECC server {server.name} has no config selected: "
            "select one with select_config() first"
        )
    sent = links(snap, server) if command is Command.CONFIGURE else ()
    return ServerCall(server, ConfigId(*server.config), sent)


def phases(snap: Snapshot, command: Command) -> list[list[ServerCall]]:
    """The servers of a system-wide command in the order the source types need."""
    mutant = [server_call(snap, s, command) for s in snap.servers if s.has_mutant]
    cobos = [server_call(snap, s, command) for s in snap.servers if not s.has_mutant]
    if command in MUTANT_FIRST:
        order = [mutant, cobos]
    elif command in COBO_FIRST:
        order = [cobos, mutant]
    else:
        order = [cobos + mutant]
    return [phase for phase in order if phase]


def check_system(snap: Snapshot, command: Command) -> State:
    """The system's state, if ``command`` may go to every server now (else the reason).

    Raises
    ------
    DAQStateError
        A command is in flight, the servers disagree, or ``command`` is not the next step.
    """
    busy = sorted({s.busy_command for s in snap.servers if s.busy_command})
    if busy:
        raise DAQStateError(
            f"{command} refused: {', '.join(busy)} is still in flight; wait for it to finish"
        )
    if not snap.consistent:
        detail = ", ".join(f"{s.name}: {s.status}" for s in snap.servers)
        raise DAQStateError(
            f"{command} refused: the servers do not agree ({snap.overall}: {detail}). "
            "Bring them to the same state with per-server commands first"
        )
    state = snap.state
    assert state is not None
    if command not in legal_commands(state):
        legal = ", ".join(c.value for c in snap.legal) or "none"
        raise DAQStateError(
            f"{command} is not possible while the system is {state.label} "
            f"(one step at a time); possible now: {legal}"
        )
    return state


def check_server(view: ServerView, command: Command | str) -> Command:
    """The transition ``command`` means for one server now (``"reset"``: one state back).

    Raises
    ------
    DAQStateError
        The server is busy, not answering, or ``command`` is not legal from its state.
    """
    if view.busy_command is not None:
        raise DAQStateError(f"{view.name} is busy with {view.busy_command}")
    if not view.online or view.state is None:
        raise DAQStateError(f"{view.name} is {view.status}: it must answer first")
    if str(command).lower() == "reset":
        if view.state not in RESET_COMMAND:
            raise DAQStateError(f"{view.name} is {view.state.label}: nothing to reset")
        return RESET_COMMAND[view.state]
    cmd = Command(command) if not isinstance(command, Command) else command
    if view.state not in cmd.allowed_from:
        raise DAQStateError(
            f"{cmd} is not possible on {view.name} while it is {view.state.label}; "
            f"possible: {', '.join(c.value for c in legal_commands(view.state))}"
        )
    return cmd


def reset_command(snap: Snapshot) -> Command:
    """The transition that steps the whole system back one state.

    Raises
    ------
    DAQStateError
        The servers are not all in one state above Idle.
    """
    state = snap.state
    if state is None or state not in RESET_COMMAND:
        raise DAQStateError(
            f"Reset refused: the system is {snap.overall}; Reset needs every server in the "
            "same state above Idle (use per-server commands otherwise)"
        )
    return RESET_COMMAND[state]


def expected_states(snap: Snapshot, server: ServerView | None = None) -> dict[str, State]:
    """What a command was judged on: each server's state, read back before sending."""
    views = list(snap.servers) if server is None else [server]
    return {s.name: s.state for s in views if s.state is not None}
