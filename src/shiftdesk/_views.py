"""Where a domain object finds its interactive view without importing widget code.

The core never imports ``shiftdesk_widgets`` statically; ``widget()`` methods look the
view up at call time so the core stays usable (and importable) without ipywidgets.
"""

from __future__ import annotations

import importlib
from typing import Any


def view(obj: object, **kwargs: Any) -> Any:
    """Return the widget view registered for ``obj``'s type.

    Raises
    ------
    ImportError
        With the install command, when the widget extra is not installed.
    """
    try:
        widgets = importlib.import_module("shiftdesk_widgets")
    except ImportError as exc:
        raise ImportError(
            f"the interactive view of {type(obj).__name__} needs the widget extra: "
            "pip install 'shiftdesk[widgets]'"
        ) from exc
    return widgets.view(obj, **kwargs)
