"""Which view shows which domain object: a registry the domains' widget modules fill.

A widget module registers a factory for a core class::

    @register_view(FitProblem)
    def _problem_view(problem: FitProblem, **kwargs: Any) -> ReflectometryDashboard:
        return ReflectometryDashboard(problem=problem, **kwargs)

:func:`view` looks the object's class up along its MRO (a subclass gets its base's view
unless it registers its own). Views of a domain are loaded when one of its objects first
asks: the domain's declaration (:class:`shiftdesk.domains.Domain`) names its widget
module, so showing a fit never imports the DAQ's views, and a new domain plugs in
without editing this package.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from shiftdesk.domains import domain_of

Factory = TypeVar("Factory", bound=Callable[..., Any])

_VIEWS: dict[type, Callable[..., Any]] = {}


def register_view(cls: type) -> Callable[[Factory], Factory]:
    """Register the decorated ``factory(obj, **kwargs)`` as the view of ``cls`` objects."""

    def decorate(factory: Factory) -> Factory:
        _VIEWS[cls] = factory
        return factory

    return decorate


def _lookup(cls: type) -> Callable[..., Any] | None:
    for klass in cls.__mro__:
        factory = _VIEWS.get(klass)
        if factory is not None:
            return factory
    return None


def view_factory(cls: type) -> Callable[..., Any]:
    """The view factory for objects of ``cls``.

    Raises
    ------
    TypeError
        No view is registered for ``cls`` or its bases.
    """
    factory = _lookup(cls)
    if factory is None:
        # Load the widget modules of the domains the class and its bases come from.
        for klass in cls.__mro__:
            domain = domain_of(klass.__module__)
            if domain is not None and domain.views:
                importlib.import_module(domain.views)
        factory = _lookup(cls)
    if factory is None:
        raise TypeError(f"no widget view for {cls.__name__}")
    return factory


def view(obj: object, **kwargs: Any) -> Any:
    """The interactive view of a shiftdesk object (what ``obj.widget()`` returns)."""
    return view_factory(type(obj))(obj, **kwargs)
