"""A fit parameter: a value that is fixed, or free within a range, and its fitted error."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from shiftdesk.errors import ConstraintError, ModelError

Listener = Callable[["Parameter", str], None]


def _finite(value: object, what: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ModelError(f"{what} must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise ModelError(f"{what} must be a finite number, not {number}")
    return number


class Parameter:
    """One model quantity: ``value``, ``fixed`` or free in ``[min, max]``, and ``error``.

    Parameters are fixed unless :meth:`fit` gives them a range. After a fit,
    :attr:`error` holds the 1-σ uncertainty.

    Parameters
    ----------
    name : str
        Short name within its owner, e.g. ``"thickness"``.
    value : float
        Current value.
    units : str
        Units shown next to the value.
    lower_limit : float, optional
        Physical lower limit (e.g. thickness ≥ 0): values and ranges below it are refused.
    """

    def __init__(
        self,
        name: str,
        value: float,
        *,
        units: str = "",
        lower_limit: float | None = None,
        fixed: bool = True,
        min: float | None = None,
        max: float | None = None,
        error: float | None = None,
    ) -> None:
        self.name = name
        self.units = units
        self.lower_limit = lower_limit
        self.owner_name = ""
        #: When set, the model pins this value (the reason is given to anyone changing it).
        self.locked: str | None = None
        #: The equality constraint that derives this value (``None``: not derived).
        self.constraint: Any = None
        self._listeners: list[Listener] = []
        self._value = self._check_value(_finite(value, self._what()))
        self._min: float | None = None
        self._max: float | None = None
        self._fixed = True
        self.error = error
        if min is not None or max is not None:
            self._set_range(min, max)
        if not fixed:
            if self._min is None or self._max is None:
                raise ModelError(f"{self._what()} is free but has no range: give min and max")
            self._check_in_range(self._value)
            self._fixed = False

    # -- identity ------------------------------------------------------------------------
    @property
    def path(self) -> str:
        """Dotted name within the problem, e.g. ``"SiO2.thickness"`` or ``"scale"``."""
        return f"{self.owner_name}.{self.name}" if self.owner_name else self.name

    def _what(self) -> str:
        return f"parameter {self.path!r}" if hasattr(self, "owner_name") else self.name

    # -- value ---------------------------------------------------------------------------
    @property
    def value(self) -> float:
        """The current value."""
        return self._value

    @value.setter
    def value(self, value: float) -> None:
        number = self._check_value(_finite(value, self._what()))
        if self.constraint is not None and number != self._value:
            raise ConstraintError(
                f"{self._what()} is derived by the constraint {self.constraint.text!r}: "
                "change the parameters it depends on, or remove the constraint"
            )
        if self.locked is not None and number != self._value:
            raise ModelError(f"{self._what()} cannot be changed: {self.locked}")
        if not self._fixed:
            self._check_in_range(number)
        if number != self._value:
            self._value = number
            self.error = None
            self._notify("value")

    def _check_value(self, number: float) -> float:
        if self.lower_limit is not None and number < self.lower_limit:
            raise ModelError(
                f"{self._what()} cannot be {number:g}: it must be ≥ {self.lower_limit:g}"
            )
        return number

    def _check_in_range(self, number: float) -> None:
        assert self._min is not None and self._max is not None
        if not self._min <= number <= self._max:
            raise ModelError(
                f"{self._what()} = {number:g} is outside its fit range "
                f"[{self._min:g}, {self._max:g}]: widen the range or change the value"
            )

    @property
    def derived(self) -> bool:
        """True when an equality constraint computes this value from other parameters."""
        return self.constraint is not None

    def _derive(self, value: float) -> bool:
        """Set the value computed by the constraint; True when it changed."""
        if value == self._value:
            return False
        self._value = float(value)
        self.error = None
        self._notify("value")
        return True

    # -- range ---------------------------------------------------------------------------
    @property
    def fixed(self) -> bool:
        """True when the parameter keeps its value during a fit."""
        return self._fixed

    @property
    def free(self) -> bool:
        """True when the fit may vary the parameter within ``[min, max]``."""
        return not self._fixed

    @property
    def min(self) -> float | None:
        """Lower end of the fit range (``None`` until a range is set)."""
        return self._min

    @property
    def max(self) -> float | None:
        """Upper end of the fit range (``None`` until a range is set)."""
        return self._max

    @property
    def bounds(self) -> tuple[float, float] | None:
        """``(min, max)`` when a range is set."""
        if self._min is None or self._max is None:
            return None
        return (self._min, self._max)

    def _set_range(self, lo: float | None, hi: float | None) -> None:
        if lo is None or hi is None:
            raise ModelError(f"{self._what()}: a range needs both min and max")
        lo = _finite(lo, f"{self._what()} min")
        hi = _finite(hi, f"{self._what()} max")
        if lo > hi:
            raise ModelError(
                f"{self._what()}: min ({lo:g}) is greater than max ({hi:g}); swap them"
            )
        if lo == hi:
            raise ModelError(
                f"{self._what()}: min and max are both {lo:g}; give a range of non-zero width "
                "or fix the parameter instead"
            )
        if self.lower_limit is not None and lo < self.lower_limit:
            raise ModelError(
                f"{self._what()}: min ({lo:g}) is below the physical limit {self.lower_limit:g}"
            )
        self._min, self._max = lo, hi

    def fit(self, min: float, max: float) -> Parameter:
        """Make the parameter free within ``[min, max]``; returns itself for chaining.

        Raises
        ------
        ModelError
            When ``min > max``, the range is empty, or the current value is outside it.
        """
        if self.locked is not None:
            raise ModelError(f"{self._what()} cannot be fitted: {self.locked}")
        if self.constraint is not None:
            raise ConstraintError(
                f"{self._what()} cannot be fitted: it is derived by the constraint "
                f"{self.constraint.text!r}; remove the constraint to fit it"
            )
        old = (self._min, self._max)
        self._set_range(min, max)
        try:
            self._check_in_range(self._value)
        except ModelError:
            self._min, self._max = old
            raise
        self._fixed = False
        self._notify("range")
        return self

    def set_range(self, min: float, max: float) -> Parameter:
        """Change the range without changing whether the parameter is free."""
        if self._fixed:
            self._set_range(min, max)
            self._notify("range")
            return self
        return self.fit(min, max)

    def fix(self, value: float | None = None) -> Parameter:
        """Keep the parameter at its value (or at ``value``) during fits."""
        if value is not None:
            self._fixed = True
            self.value = value
        changed = not self._fixed
        self._fixed = True
        if changed:
            self._notify("range")
        return self

    @property
    def at_limit(self) -> bool:
        """True when a free parameter sits on (within 0.1 % of the width of) its range limit."""
        if self._fixed or self._min is None or self._max is None:
            return False
        tol = 1e-3 * (self._max - self._min)
        return self._value - self._min <= tol or self._max - self._value <= tol

    # -- observers -----------------------------------------------------------------------
    def observe(self, listener: Listener) -> None:
        """Call ``listener(parameter, what)`` after a change (``what``: value or range)."""
        self._listeners.append(listener)

    def unobserve(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self, what: str) -> None:
        for listener in list(self._listeners):
            listener(self, what)

    # -- state ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "value": self._value,
            "fixed": self._fixed,
            "min": self._min,
            "max": self._max,
            "error": self.error,
        }

    def update_from_dict(self, state: dict[str, Any]) -> None:
        """Restore state written by :meth:`to_dict` (validated like user input).

        A derived parameter takes the value as computed elsewhere (a fit's result).
        """
        self._fixed = True
        self._min = self._max = None
        if self.constraint is not None:
            self._value = self._check_value(_finite(state["value"], self._what()))
        else:
            self.value = state["value"]
        if state.get("min") is not None or state.get("max") is not None:
            self._set_range(state.get("min"), state.get("max"))
        if not state.get("fixed", True):
            self.fit(self._min, self._max)  # type: ignore[arg-type]
        error = state.get("error")
        self.error = None if error is None else float(error)
        self._notify("range")

    def format(self) -> str:
        """``value ± error units`` with sensible precision."""
        text = format_value(self._value, self.error)
        return f"{text} {self.units}".strip()

    def __repr__(self) -> str:
        state = "fixed" if self._fixed else f"free in [{self._min:g}, {self._max:g}]"
        if self.constraint is not None:
            state = f"derived: {self.constraint.text}"
        return f"<Parameter {self.path} = {self.format()} ({state})>"


def format_value(value: float, error: float | None) -> str:
    """Format ``value ± error`` with the error to two significant figures."""
    if error is None or not math.isfinite(error) or error <= 0:
        return f"{value:.6g}"
    digits = max(0, 1 - math.floor(math.log10(error)))
    if digits > 8 or abs(value) >= 1e6 or (value != 0 and abs(value) < 1e-4):
        return f"{value:.4g} ± {error:.2g}"
    return f"{value:.{digits}f} ± {error:.{digits}f}"
