"""The actions the gate runs for a caller: a registry every domain adds to.

An action is a function ``f(ctx, **args) -> JSON`` registered under a dotted name
(``daq.start``). It receives an :class:`ActionContext` whose identity the gate verified
(on a hub: from the caller's hub token, with the hub's live groups) and returns plain
JSON. Domains name the modules registering their actions in their
:class:`~shiftdesk.domains.Domain` (``gate_actions``); they are imported when an action is
first looked up, so a new domain plugs in without editing this file. The core's own
actions (jobs) are in :data:`CORE_ACTION_MODULES`.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shiftdesk.errors import NotFound
from shiftdesk.identity import Identity
from shiftdesk.storage import Database

#: modules of the core (not of a domain) that register actions
CORE_ACTION_MODULES = ("shiftdesk.jobs.actions",)


@dataclass
class ActionContext:
    """What an action runs with.

    Parameters
    ----------
    identity : Identity
        The verified caller.
    database : Database
        The database the gate writes (as the table owner on a hub).
    resources : dict
        Long-lived objects of the process running the action (the DAQ controller,
        router access), created once by :meth:`resource`.
    """

    identity: Identity
    database: Database
    resources: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def resource(self, key: str, make: Callable[[], Any]) -> Any:
        """The process-wide object ``key``, made by ``make()`` on first use."""
        with self._lock:
            if key not in self.resources:
                self.resources[key] = make()
            return self.resources[key]


@dataclass(frozen=True)
class Action:
    """A registered action.

    Parameters
    ----------
    name : str
        Dotted name, e.g. ``daq.start``.
    run : callable
        ``run(ctx, **args)`` returning JSON.
    target : callable
        ``target(args)``: what the action acts on, for the audit trail.
    """

    name: str
    run: Callable[..., Any]
    target: Callable[[dict[str, Any]], str]


_ACTIONS: dict[str, Action] = {}
_loaded = False
_load_lock = threading.Lock()


def register(
    name: str,
    run: Callable[..., Any],
    *,
    target: Callable[[dict[str, Any]], str] | None = None,
) -> Action:
    """Register ``run`` as action ``name`` (replacing an earlier one of that name)."""
    if not name or "." not in name:
        raise ValueError(f"action names are dotted (domain.verb), not {name!r}")
    action = Action(name, run, target or (lambda args: ""))
    _ACTIONS[name] = action
    return action


def _load() -> None:
    global _loaded
    with _load_lock:
        if _loaded:
            return
        from shiftdesk.domains import gate_action_modules

        for module in (*CORE_ACTION_MODULES, *gate_action_modules()):
            importlib.import_module(module)
        _loaded = True


def get_action(name: str) -> Action:
    """The action ``name``.

    Raises
    ------
    NotFound
        No domain registered it.
    """
    _load()
    try:
        return _ACTIONS[name]
    except KeyError:
        raise NotFound(
            f"the gate has no action {name!r} (known: {', '.join(sorted(_ACTIONS)) or 'none'})"
        ) from None


def known_actions() -> list[str]:
    """Every registered action name."""
    _load()
    return sorted(_ACTIONS)
