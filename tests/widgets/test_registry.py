"""Views found through the registry: along the MRO, loaded per domain on first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import shiftdesk_widgets
from shiftdesk.identity import Identity
from shiftdesk.storage import Database
from shiftdesk_widgets import register_view, view
from shiftdesk_widgets.registry import view_factory


@pytest.fixture
def tally(tmp_path: Path):  # type: ignore[no-untyped-def]
    from shiftdesk_testdomain import Tally

    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    yield Tally.create("beam hours", database=db, identity=Identity("alice"))
    db.engine.dispose()


def test_a_domain_object_gets_its_domains_view(tally) -> None:  # type: ignore[no-untyped-def]
    shown = tally.widget()
    assert type(shown).__name__ == "TallyView"
    shown.button.click()
    assert tally.count == 1
    assert "<b>1</b>" in shown.label.value


def test_a_subclass_gets_its_bases_view_until_it_registers_its_own(tally) -> None:  # type: ignore[no-untyped-def]
    from shiftdesk_testdomain import Tally

    class NamedTally(Tally):
        pass

    named = NamedTally.__new__(NamedTally)
    named.__dict__.update(tally.__dict__)
    assert type(view(named)).__name__ == "TallyView"

    @register_view(NamedTally)
    def _named_view(obj: NamedTally) -> str:
        return f"named {obj.name}"

    assert view(named) == "named beam hours"
    assert type(view(tally)).__name__ == "TallyView"


def test_an_object_without_a_view_says_so() -> None:
    class Plain:
        pass

    with pytest.raises(TypeError, match="no widget view for Plain"):
        view(Plain())
    with pytest.raises(TypeError, match="no widget view for int"):
        view_factory(int)


def test_views_of_a_domain_load_only_when_one_of_its_objects_asks() -> None:
    code = (
        "import sys\n"
        "from shiftdesk.reflectometry import ReflData\n"
        "import numpy as np\n"
        "import shiftdesk_widgets\n"
        "from shiftdesk_widgets.registry import view_factory\n"
        "from shiftdesk_testdomain import Tally\n"
        "view_factory(Tally)\n"
        "print('DAQ', 'shiftdesk_widgets.daq' in sys.modules, 'zeep' in sys.modules)\n"
        "print('REFL', 'shiftdesk_widgets.reflectometry' in sys.modules)\n"
        "view_factory(ReflData)\n"
        "print('REFL', 'shiftdesk_widgets.reflectometry' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, check=True
    )
    assert "DAQ False False" in out.stdout, out.stdout + out.stderr
    assert out.stdout.count("REFL") == 2
    assert "REFL False\nREFL True" in out.stdout


def test_the_packages_names_stay_importable() -> None:
    assert shiftdesk_widgets.ReflectometryDashboard.__name__ == "ReflectometryDashboard"
    assert shiftdesk_widgets.DAQDashboard.__name__ == "DAQDashboard"
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        shiftdesk_widgets.Nope  # noqa: B018
