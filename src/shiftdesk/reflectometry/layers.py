"""Slab layers and the two semi-infinite media, and the ordered list of layers."""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterator
from typing import Any

from shiftdesk.errors import ModelError
from shiftdesk.reflectometry.parameter import Parameter

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
MAX_NAME_LENGTH = 40
#: Names that stand for something else in parameter paths, constraints and scripts.
RESERVED_NAMES = frozenset(
    {"front", "back", "scale", "background", "sample", "probe", "problem", "expt", "data"}
)
FRONT_ROUGHNESS = (
    "the front medium has no roughness of its own: the roughness of the front interface "
    "belongs to the first layer (or to the back medium if there are no layers)"
)


def check_name(name: object) -> str:
    """Return ``name`` if refl1d, parameter paths and exported scripts can all use it."""
    if not isinstance(name, str):
        raise ModelError(f"a layer name must be text, not {name!r}")
    if not name:
        raise ModelError("a layer name cannot be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ModelError(f"layer name {name[:20]!r}… is longer than {MAX_NAME_LENGTH} characters")
    if not _NAME.match(name):
        raise ModelError(
            f"layer name {name!r} cannot be used: start with a letter and use only letters, "
            "digits and _ (no spaces or punctuation), e.g. 'SiO2' or 'Cu_top'"
        )
    if keyword.iskeyword(name) or name.lower() in RESERVED_NAMES:
        raise ModelError(f"layer name {name!r} is reserved; choose another (e.g. {name}1)")
    return name


class _Slab:
    """Shared behaviour of layers and media: a name and named parameters."""

    kind = "slab"
    PARAMETERS: tuple[str, ...] = ()

    def __init__(self, name: str) -> None:
        self._name = check_name(name)
        self._owner: Any = None

    @property
    def name(self) -> str:
        """The name; must be unique within a model."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        value = check_name(value)
        if value == self._name:
            return
        if self._owner is not None:
            self._owner._check_unique(value, ignore=self)  # raises if the name is taken
        self._name = value
        self._rename_parameters()
        if self._owner is not None:
            self._owner._changed("structure")

    def _path_prefix(self) -> str:
        return self._name

    def _rename_parameters(self) -> None:
        # every parameter, also those parameters() leaves out (the front medium's roughness)
        for attr in self.PARAMETERS:
            getattr(self, attr).owner_name = self._path_prefix()

    def parameters(self) -> list[Parameter]:
        """This slab's parameters in display order."""
        return [getattr(self, attr) for attr in self.PARAMETERS]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        state: dict[str, Any] = {"name": self._name}
        for attr in self.PARAMETERS:
            state[attr] = getattr(self, attr).to_dict()
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        for attr in self.PARAMETERS:
            if attr in state:
                getattr(self, attr).update_from_dict(state[attr])


def _param(name: str, value: float, units: str, lower: float | None) -> Parameter:
    return Parameter(name, value, units=units, lower_limit=lower)


class Layer(_Slab):
    """A slab of uniform scattering length density.

    Parameters
    ----------
    name : str
        Unique name (letters, digits, _; starting with a letter).
    thickness : float
        Thickness in Å.
    sld, isld : float
        Real and imaginary scattering length density in 10⁻⁶ Å⁻².
    roughness : float
        Gaussian roughness σ in Å of the interface on this layer's **front** side
        (towards the front medium).
    """

    kind = "layer"
    PARAMETERS = ("thickness", "sld", "isld", "roughness")

    def __init__(
        self,
        name: str,
        thickness: float = 50.0,
        sld: float = 2.0,
        isld: float = 0.0,
        roughness: float = 0.0,
    ) -> None:
        super().__init__(name)
        self.thickness = _param("thickness", thickness, "Å", 0.0)
        self.sld = _param("sld", sld, "10⁻⁶/Å²", None)
        self.isld = _param("isld", isld, "10⁻⁶/Å²", 0.0)
        self.roughness = _param("roughness", roughness, "Å", 0.0)
        self._rename_parameters()

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Layer:
        """Inverse of :meth:`to_dict`."""
        layer = cls(state["name"])
        layer._restore(state)
        return layer

    def copy(self) -> Layer:
        """An independent copy."""
        return Layer.from_dict(self.to_dict())

    def __repr__(self) -> str:
        return (
            f"Layer({self.name!r}, thickness={self.thickness.value:g}, sld={self.sld.value:g}, "
            f"isld={self.isld.value:g}, roughness={self.roughness.value:g})"
        )


class Medium(_Slab):
    """A semi-infinite medium: the front (incident) or back (substrate) side.

    Parameters
    ----------
    name : str
        Name, e.g. ``"air"`` or ``"Si"``.
    sld, isld : float
        Scattering length density in 10⁻⁶ Å⁻².
    roughness : float
        For the back medium: σ in Å of its interface with the last layer (or with the
        front medium when there are no layers). The front medium has no roughness of
        its own; the first layer's roughness is the front interface.
    """

    kind = "medium"
    PARAMETERS = ("sld", "isld", "roughness")

    def __init__(self, name: str, sld: float = 0.0, isld: float = 0.0, roughness: float = 0.0):
        super().__init__(name)
        self.side = ""
        self.sld = _param("sld", sld, "10⁻⁶/Å²", None)
        self.isld = _param("isld", isld, "10⁻⁶/Å²", 0.0)
        self.roughness = _param("roughness", roughness, "Å", 0.0)
        self._rename_parameters()

    def _path_prefix(self) -> str:
        # media are addressed by side ("front.sld") so renaming air → D2O keeps paths stable
        return self.side or self._name

    def _set_side(self, side: str) -> None:
        self.side = side
        # the engine has no roughness on the front medium: refuse it rather than ignore it
        self.roughness.locked = FRONT_ROUGHNESS if side == "front" else None
        self._rename_parameters()

    def parameters(self) -> list[Parameter]:
        """The medium's parameters (the front medium has no roughness)."""
        if self.side == "front":
            return [self.sld, self.isld]
        return [self.sld, self.isld, self.roughness]

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Medium:
        """Inverse of :meth:`to_dict`."""
        medium = cls(state["name"])
        medium._restore(state)
        return medium

    def copy(self) -> Medium:
        """An independent copy."""
        return Medium.from_dict(self.to_dict())

    def __repr__(self) -> str:
        return (
            f"Medium({self.name!r}, sld={self.sld.value:g}, isld={self.isld.value:g}, "
            f"roughness={self.roughness.value:g})"
        )


class LayerList:
    """The layers between the media, listed from the front medium to the back medium.

    Index by position or by name: ``layers[0]``, ``layers["SiO2"]``.
    """

    def __init__(self, owner: Any) -> None:
        self._owner = owner
        self._layers: list[Layer] = []

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(list(self._layers))

    def __contains__(self, name: object) -> bool:
        return any(layer.name == name for layer in self._layers)

    def __getitem__(self, key: int | str) -> Layer:
        return self._layers[self.index(key)]

    def index(self, key: int | str | Layer) -> int:
        """Position of a layer given by position, name or object."""
        if isinstance(key, Layer):
            for i, layer in enumerate(self._layers):
                if layer is key:
                    return i
            raise KeyError(f"layer {key.name!r} is not in this model")
        if isinstance(key, int):
            if not -len(self._layers) <= key < len(self._layers):
                raise IndexError(f"no layer at position {key}; the model has {len(self)} layers")
            return key % len(self._layers)
        for i, layer in enumerate(self._layers):
            if layer.name == key:
                return i
        names = ", ".join(layer.name for layer in self._layers) or "none"
        raise KeyError(f"no layer named {key!r}; layers are: {names}")

    @property
    def names(self) -> list[str]:
        """Layer names from front to back."""
        return [layer.name for layer in self._layers]

    def insert(self, index: int, layer: Layer) -> Layer:
        """Insert ``layer`` before position ``index`` (``len`` appends)."""
        if not isinstance(layer, Layer):
            raise ModelError(f"only Layer objects can be added, not {type(layer).__name__}")
        self._owner._check_unique(layer.name)
        self._layers.insert(index, layer)
        self._owner._attach(layer)
        self._owner._changed("structure")
        return layer

    def append(self, layer: Layer) -> Layer:
        """Add ``layer`` next to the back medium."""
        return self.insert(len(self._layers), layer)

    def add(self, name: str | None = None, index: int | None = None, **values: float) -> Layer:
        """Create and insert a layer; a free name is chosen when none is given."""
        if name is None:
            name = self._owner._free_name("layer")
        return self.insert(len(self._layers) if index is None else index, Layer(name, **values))

    def remove(self, key: int | str | Layer) -> Layer:
        """Delete a layer and return it."""
        layer = self._layers.pop(self.index(key))
        self._owner._detach(layer)
        self._owner._changed("structure")
        return layer

    def move(self, key: int | str | Layer, index: int) -> None:
        """Move a layer to position ``index``."""
        layer = self._layers.pop(self.index(key))
        index = max(0, min(index, len(self._layers)))
        self._layers.insert(index, layer)
        self._owner._changed("structure")

    def _replace_all(self, layers: list[Layer]) -> None:
        for layer in self._layers:
            self._owner._detach(layer)
        self._layers = []
        for layer in layers:
            self._owner._check_unique(layer.name)
            self._layers.append(layer)
            self._owner._attach(layer)

    def __repr__(self) -> str:
        return f"LayerList({self.names})"
