"""Entry point of the context process (run as a script by the context engine).

Running ``python -m shiftdesk.runtable.context.runner`` would first import
``shiftdesk.runtable``'s ``__init__``, which brings in the whole run table (storage,
pandas...): far more than a context process needs. This script registers a light
``shiftdesk.runtable`` package module (same folder, no ``__init__`` executed) that only
offers the context-file names, then runs :func:`shiftdesk.runtable.context.runner.main`.
"""

import importlib.util
import sys
import types
from pathlib import Path

_NAMES = ("Cell", "DependencyError", "Group", "Skip", "Variable")


def _light_runtable() -> None:
    if "shiftdesk.runtable" in sys.modules:
        return
    import shiftdesk

    spec = importlib.util.find_spec("shiftdesk")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        return
    module = types.ModuleType("shiftdesk.runtable")
    module.__path__ = [str(Path(location) / "runtable") for location in locations]
    module.__package__ = "shiftdesk.runtable"

    def __getattr__(name: str) -> object:
        if name in _NAMES:
            from shiftdesk.runtable.context import api

            return getattr(api, name)
        raise AttributeError(
            f"module 'shiftdesk.runtable' has no attribute {name!r} in a context process "
            f"(a context file may import {', '.join(_NAMES)})"
        )

    setattr(module, "__getattr__", __getattr__)  # noqa: B010
    sys.modules["shiftdesk.runtable"] = module
    setattr(shiftdesk, "runtable", module)  # noqa: B010


if __name__ == "__main__":
    _light_runtable()
    from shiftdesk.runtable.context.runner import main

    sys.exit(main())
