"""shiftdesk: Jupyter-native domain objects for scientific user facilities.

The core package never imports widget libraries; interactive views live in
``shiftdesk_widgets`` and are reached through each object's ``widget()`` method.
"""

from shiftdesk.errors import (
    DataError,
    JobError,
    PermissionDenied,
    ShiftdeskError,
    StorageError,
)
from shiftdesk.identity import Identity, current_identity

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "Identity",
    "JobError",
    "PermissionDenied",
    "ShiftdeskError",
    "StorageError",
    "__version__",
    "current_identity",
]
