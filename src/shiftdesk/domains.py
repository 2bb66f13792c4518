"""The seam every domain plugs into: one declaration per domain, found by entry point.

A domain (reflectometry, the DAQ, and the ones to come) declares in one place what the
shared machinery needs to know about it: the modules defining its tables, its Alembic
revisions, its job kinds, the modules registering its gate actions and the widget
module registering its views. The declaration is a :class:`Domain` named by an entry
point of the group ``shiftdesk.domains``::

    [project.entry-points."shiftdesk.domains"]
    daq = "shiftdesk.daq.domain:DOMAIN"

so storage, jobs, the gate and the widget package never name a domain, and a new domain
is a new package (plus its migration). ``docs/adding-a-domain.md`` walks through the
smallest real one.

Loading the declarations imports each domain's ``domain`` module and so its package's
``__init__``: keep both cheap (see :mod:`shiftdesk._lazy`).
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from shiftdesk.jobs.tasks import TaskKind

#: entry point group naming each domain's :class:`Domain`
ENTRY_POINT_GROUP = "shiftdesk.domains"


@dataclass(frozen=True)
class Domain:
    """What a domain brings to the shared machinery.

    Parameters
    ----------
    name : str
        Short name; job kinds and gate actions of the domain start with ``name + "."``.
    title : str
        What the domain is, in a few words (``shiftdesk --help`` shows it).
    package : str
        The domain's Python package; objects whose class is defined below it get their
        views from :attr:`views`.
    records : tuple of str
        Modules defining the domain's tables on :class:`shiftdesk.storage.Base`, imported
        whenever a database is opened so that every table is known.
    migrations : str, optional
        Package holding the domain's Alembic revisions (a branch off the core history,
        ``down_revision`` a core revision and ``branch_labels = (name,)``). Domains whose
        tables came with the core's own history leave it out.
    job_kinds : tuple of TaskKind
        The job kinds the domain runs.
    gate_actions : tuple of str
        Modules that register the domain's gate actions when imported.
    views : str, optional
        Module of a widget package registering the views of the domain's objects (with
        ``shiftdesk_widgets.register_view``); the core never imports it.
    dashboards : tuple of str
        Names of the domain's dashboard notebooks (``notebooks/<name>.ipynb``), which
        ``shiftdesk demo`` serves.
    seed_demo : str, optional
        ``"module:function"``; ``function(database, identity)`` puts the domain's demo
        data in place for that user (idempotent) and returns a line saying what it did.
    commands : str, optional
        ``"module:function"``; ``function(parser)`` adds the domain's subcommands to the
        ``shiftdesk <name>`` command (an ``argparse.ArgumentParser``).
    listeners : tuple of (str, str)
        ``(event, "module:function")`` pairs: ``function(**payload)`` is called when
        another domain emits ``event`` (see :func:`emit`), e.g. the run table listens
        to the DAQ's ``daq.run_closed``.
    """

    name: str
    package: str
    title: str = ""
    records: tuple[str, ...] = ()
    migrations: str | None = None
    job_kinds: tuple[TaskKind, ...] = ()
    gate_actions: tuple[str, ...] = ()
    views: str | None = None
    dashboards: tuple[str, ...] = ()
    seed_demo: str | None = None
    commands: str | None = None
    listeners: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for kind in self.job_kinds:
            if not kind.name.startswith(self.name + "."):
                raise ValueError(
                    f"domain {self.name!r}: job kind {kind.name!r} must start with "
                    f"{self.name + '.'!r} so that kinds of two domains cannot collide"
                )

    def migrations_folder(self) -> Path | None:
        """The folder of the domain's Alembic revisions, if it has its own."""
        if self.migrations is None:
            return None
        module = importlib.import_module(self.migrations)
        return Path(next(iter(module.__path__)))


_DOMAINS: dict[str, Domain] = {}
_discovered = False
_lock = threading.RLock()


def register(domain: Domain) -> Domain:
    """Add a domain in this process (entry points are the usual way; tests use this).

    Raises
    ------
    ValueError
        Another domain of that name is registered.
    """
    with _lock:
        _discover()
        existing = _DOMAINS.get(domain.name)
        if existing is not None and existing != domain:
            raise ValueError(
                f"two domains are named {domain.name!r} ({existing.package} and "
                f"{domain.package}); rename one"
            )
        _DOMAINS[domain.name] = domain
    return domain


def load(ref: str) -> Any:
    """The object a ``"module:attribute"`` reference of a declaration names."""
    module, _, attribute = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def _discover() -> None:
    global _discovered
    with _lock:
        if _discovered:
            return
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            domain = ep.load()
            if not isinstance(domain, Domain):
                raise TypeError(
                    f"entry point {ep.name} = {ep.value!r} of {ENTRY_POINT_GROUP!r} is a "
                    f"{type(domain).__name__}, not a shiftdesk.domains.Domain"
                )
            _DOMAINS.setdefault(domain.name, domain)
        _discovered = True


def all_domains() -> dict[str, Domain]:
    """Every known domain, by name."""
    with _lock:
        _discover()
        return dict(_DOMAINS)


def get_domain(name: str) -> Domain:
    """The domain ``name``.

    Raises
    ------
    KeyError
        No such domain is installed.
    """
    domains = all_domains()
    try:
        return domains[name]
    except KeyError:
        raise KeyError(
            f"no shiftdesk domain {name!r} is installed (known: {', '.join(sorted(domains))})"
        ) from None


def domain_of(module: str) -> Domain | None:
    """The domain whose package holds ``module`` (the longest matching package)."""
    best: Domain | None = None
    for domain in all_domains().values():
        inside = module == domain.package or module.startswith(domain.package + ".")
        if inside and (best is None or len(domain.package) > len(best.package)):
            best = domain
    return best


def load_records() -> None:
    """Import every domain's table modules (so ``Base.metadata`` holds every table)."""
    for domain in all_domains().values():
        for module in domain.records:
            importlib.import_module(module)


def job_kinds() -> dict[str, TaskKind]:
    """Every domain's job kinds, by name."""
    return {kind.name: kind for d in all_domains().values() for kind in d.job_kinds}


def gate_action_modules() -> list[str]:
    """The modules registering the domains' gate actions."""
    return [module for d in all_domains().values() for module in d.gate_actions]


def migration_folders() -> list[Path]:
    """The domains' own Alembic revision folders (beside the core's)."""
    folders = (d.migrations_folder() for d in all_domains().values())
    return [folder for folder in folders if folder is not None]


def emit(event: str, **payload: Any) -> list[str]:
    """Tell the domains listening to ``event`` that it happened.

    Listeners run in the caller's thread, one after the other; one that fails does not
    stop the others nor the caller (the emitter's own work is done by then).

    Returns
    -------
    list of str
        One line per listener that failed, for the caller's log.
    """
    failures: list[str] = []
    for domain in all_domains().values():
        for name, ref in domain.listeners:
            if name != event:
                continue
            try:
                load(ref)(**payload)
            except Exception as exc:  # a listener's fault must not undo the emitter's work
                failures.append(f"{domain.name} ({ref}) could not handle {event}: {exc}")
    return failures
