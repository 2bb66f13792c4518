"""Experiment-planning calculators: neutron SLD of a material, battery electrode capacity.

Both follow the ORNL reflectivity service's "Capacity and SLD calculator" page and use
periodictable for the physics (scattering lengths, masses, known densities).

>>> round(sld("Si", density=2.33).sld, 3)
2.074
>>> round(capacity("Si", 2.0, 75.0, 3.75).mAh, 3)
0.786
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from shiftdesk.display import html_repr, table
from shiftdesk.errors import ShiftdeskError

#: Default neutron wavelength in Å (absorption depends on it; SLD does not).
DEFAULT_WAVELENGTH = 6.0
#: C/n currents listed by :attr:`Capacity.c_rates`.
C_RATES = (1, 2, 3, 5, 10, 20)
#: Longest formula accepted (periodictable's parser is recursive; a formula is short).
MAX_FORMULA_LENGTH = 200


class CalculatorError(ShiftdeskError, ValueError):
    """A calculator input cannot be used (unknown formula, missing or bad density, ...)."""


def _positive(value: Any, what: str, hint: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CalculatorError(f"{what} must be a number, not {value!r}; {hint}") from None
    if not math.isfinite(number) or number <= 0:
        raise CalculatorError(f"{what} must be a positive number, not {value!r}; {hint}")
    return number


def _formula(text: Any) -> Any:
    """Parse a chemical formula with periodictable, explaining any failure."""
    import periodictable

    if not isinstance(text, str) or not text.strip():
        raise CalculatorError(
            "give a chemical formula such as 'Si', 'SiO2' or 'D2O' (elements are "
            "case-sensitive: 'Si', not 'si')"
        )
    text = text.strip()
    if len(text) > MAX_FORMULA_LENGTH:
        raise CalculatorError(
            f"the formula is {len(text)} characters long; formulas up to "
            f"{MAX_FORMULA_LENGTH} characters are accepted"
        )
    try:
        compound = periodictable.formula(text)
    except Exception as exc:  # pyparsing's ParseException, ValueError("unknown element X")
        detail = str(exc).split(", (line")[0]
        raise CalculatorError(
            f"{text!r} is not a chemical formula periodictable understands ({detail}); "
            "write elements with their symbols and counts, e.g. 'Li15Si4' or 'H2O' "
            "(case matters)"
        ) from None
    if not compound.atoms:
        raise CalculatorError(f"{text!r} contains no elements; give a formula such as 'Si'")
    return compound


def _density(compound: Any, text: str, density: Any) -> float:
    """The density to use: the one given, else the one periodictable knows."""
    if density is None or (isinstance(density, str) and not density.strip()):
        known = compound.density
        if known is None or not math.isfinite(float(known)) or float(known) <= 0:
            raise CalculatorError(
                f"periodictable knows no density for {text!r}: give one in g/cm³ "
                "(e.g. density=2.2 for SiO2)"
            )
        return float(known)
    return _positive(density, "the density (g/cm³)", "e.g. 2.33 for Si")


@dataclass(frozen=True)
class SLDResult:
    """Neutron scattering length densities of a material, in 10⁻⁶/Å².

    Attributes
    ----------
    formula : str
        The formula as given.
    density : float
        Mass density used, g/cm³.
    wavelength : float
        Neutron wavelength, Å (absorption scales with it).
    sld, isld, incoherent : float
        Coherent SLD (real part), absorption (imaginary part) and incoherent SLD.
    """

    formula: str
    density: float
    wavelength: float
    sld: float
    isld: float
    incoherent: float

    def __repr__(self) -> str:
        return (
            f"SLD({self.formula} @ {self.density:g} g/cm³, {self.wavelength:g} Å): "
            f"sld={self.sld:.4f}, isld={self.isld:.4g}, incoherent={self.incoherent:.4g} "
            "(1e-6/Å²)"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("SLD", f"{self.sld:.4f} × 10⁻⁶/Å²"),
            ("absorption (iSLD)", f"{self.isld:.4g} × 10⁻⁶/Å²"),
            ("incoherent", f"{self.incoherent:.4g} × 10⁻⁶/Å²"),
            ("density", f"{self.density:g} g/cm³"),
            ("wavelength", f"{self.wavelength:g} Å"),
        ]
        return html_repr("SLD", self.formula, repr(self), table(rows))


def sld(
    formula: str, density: float | None = None, wavelength: float = DEFAULT_WAVELENGTH
) -> SLDResult:
    """Neutron SLD, absorption and incoherent SLD of a material.

    Parameters
    ----------
    formula : str
        Chemical formula, e.g. ``"SiO2"``, ``"D2O"`` (periodictable syntax; case matters).
    density : float, optional
        Mass density in g/cm³. Required unless periodictable knows the density (it does
        for the elements, not for most compounds).
    wavelength : float
        Neutron wavelength in Å.

    Returns
    -------
    SLDResult
        ``.sld``, ``.isld`` and ``.incoherent`` in 10⁻⁶/Å².

    Raises
    ------
    CalculatorError
        Unknown or malformed formula, missing, zero or negative density, bad wavelength.

    Examples
    --------
    >>> round(sld("D2O", density=1.107).sld, 3)
    6.371
    """
    from periodictable import nsf

    compound = _formula(formula)
    rho = _density(compound, formula.strip(), density)
    lam = _positive(wavelength, "the wavelength (Å)", "neutron wavelengths are a few Å, e.g. 6")
    real, imag, incoh = nsf.neutron_sld(compound, density=rho, wavelength=lam)
    values = [float(real), float(imag), float(incoh)]
    if not all(math.isfinite(v) for v in values):
        raise CalculatorError(  # pragma: no cover - periodictable returns NaN for odd isotopes
            f"periodictable has no neutron scattering data for part of {formula!r}"
        )
    return SLDResult(formula.strip(), rho, lam, *values)


@dataclass(frozen=True)
class Capacity:
    """Charge capacity of a thin-film (disc) battery electrode.

    Attributes
    ----------
    formula : str
        Electrode material.
    radius_cm, thickness_nm : float
        Electrode disc radius (cm) and film thickness (nm).
    carriers : float
        Charge carriers (e.g. Li) taken up per formula unit.
    valence_change : float
        Oxidation-state change per carrier.
    density : float
        Mass density used, g/cm³.
    mass_g : float
        Electrode mass, g.
    mAh_per_g : float
        Specific capacity, mAh per gram of electrode material.
    mAh : float
        Capacity of the electrode, mAh.
    """

    formula: str
    radius_cm: float
    thickness_nm: float
    carriers: float
    valence_change: float
    density: float
    mass_g: float
    mAh_per_g: float
    mAh: float

    def c_rate(self, n: float) -> float:
        """The C/n current in mA (full charge in ``n`` hours); ``n=0.5`` gives 2C."""
        hours = _positive(n, "the C-rate divisor n (C/n)", "e.g. 3 for C/3")
        return self.mAh / hours

    @property
    def c_rates(self) -> dict[str, float]:
        """C/1, C/2, C/3, C/5, C/10 and C/20 currents in mA, keyed ``"C/n"``."""
        return {f"C/{n}": self.c_rate(n) for n in C_RATES}

    def __repr__(self) -> str:
        rates = ", ".join(f"{k} {v:.4g} mA" for k, v in self.c_rates.items())
        return (
            f"Capacity({self.formula}, r={self.radius_cm:g} cm, t={self.thickness_nm:g} nm, "
            f"{self.carriers:g} carriers × {self.valence_change:g}): {self.mAh:.4g} mAh, "
            f"{self.mAh_per_g:.5g} mAh/g; {rates}"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("capacity", f"{self.mAh:.4g} mAh"),
            ("specific capacity", f"{self.mAh_per_g:.5g} mAh/g"),
            ("electrode mass", f"{self.mass_g * 1e3:.4g} mg"),
            ("density", f"{self.density:g} g/cm³"),
        ]
        rows += [(k, f"{v:.4g} mA") for k, v in self.c_rates.items()]
        return html_repr("Capacity", self.formula, repr(self), table(rows))


def capacity(
    formula: str,
    radius_cm: float,
    thickness_nm: float,
    carriers: float,
    valence_change: float = 1,
    density: float | None = None,
) -> Capacity:
    """Capacity and C-rate currents of a disc-shaped thin-film electrode.

    capacity = π r² t ρ · n Δz F / M, with F Faraday's constant and M the molar mass of
    the formula unit (so ``mAh_per_g`` is per gram of the uncharged electrode).

    Parameters
    ----------
    formula : str
        Electrode material, e.g. ``"Si"``.
    radius_cm : float
        Electrode radius in cm.
    thickness_nm : float
        Film thickness in nm.
    carriers : float
        Charge carriers per formula unit (3.75 Li per Si for Li15Si4).
    valence_change : float
        Oxidation-state change per carrier (1 for Li⁺).
    density : float, optional
        g/cm³; required unless periodictable knows the density of ``formula``.

    Returns
    -------
    Capacity
        ``.mAh``, ``.mAh_per_g``, ``.c_rate(n)`` and ``.c_rates``.

    Raises
    ------
    CalculatorError
        Unknown formula, missing or non-positive density, radius, thickness, carriers or
        valence change.

    Examples
    --------
    >>> round(capacity("Si", 2.0, 75.0, 3.75).mAh_per_g, 1)  # Li15Si4
    3578.6
    """
    from periodictable import constants

    compound = _formula(formula)
    rho = _density(compound, formula.strip(), density)
    radius = _positive(radius_cm, "the electrode radius (cm)", "e.g. 2")
    thickness = _positive(thickness_nm, "the film thickness (nm)", "e.g. 75")
    n = _positive(carriers, "the number of charge carriers per formula unit", "e.g. 3.75")
    dz = _positive(valence_change, "the oxidation-state change", "e.g. 1 for Li⁺")
    molar_mass = float(compound.mass)  # g/mol
    faraday = constants.avogadro_number * constants.electron_volt  # C/mol
    mah_per_g = n * dz * faraday / molar_mass / 3.6  # C/g → mAh/g
    volume_cm3 = math.pi * radius**2 * thickness * 1e-7
    mass = volume_cm3 * rho
    return Capacity(
        formula=formula.strip(),
        radius_cm=radius,
        thickness_nm=thickness,
        carriers=n,
        valence_change=dz,
        density=rho,
        mass_g=mass,
        mAh_per_g=mah_per_g,
        mAh=mass * mah_per_g,
    )
