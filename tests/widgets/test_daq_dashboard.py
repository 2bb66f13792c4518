"""The DAQ shift dashboard driven headless against simulated ECC servers over real HTTP.

Buttons are clicked with ``button.click()`` and inputs typed into by setting ``.value``
(the same observers the browser runs). The core poller runs in a thread as it would in
production; the dashboard's own asyncio poller has no loop here, so the tests tick it
(``dashboard.wait_for``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import ipywidgets as w
import pytest
from tests.daq._system import OPERATOR, VISITOR, daq_system

from shiftdesk.daq.ecc import State, clear_call_history, forget_clients
from shiftdesk.daq.execution import stop_executors
from shiftdesk.daq.poller import Poller as StatePoller
from shiftdesk.daq.routers import LocalRouters
from shiftdesk.daq.simulator import SimulatedCluster
from shiftdesk.daq.system import DAQSystem
from shiftdesk_widgets import view
from shiftdesk_widgets.daq import DAQDashboard


def text(html: str) -> str:
    """Visible text of an HTML widget value."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def enabled(dashboard: DAQDashboard) -> set[str]:
    return {name for name, b in dashboard.system_buttons.buttons.items() if not b.disabled}


def overall(state: str):  # type: ignore[no-untyped-def]
    """Condition: the system shows ``state`` and no call of the view is on its way."""
    return lambda d: d.snapshot.overall == state and not d.background.busy


@pytest.fixture(autouse=True)
def _fresh_ecc_clients() -> Iterator[None]:
    forget_clients()
    clear_call_history()
    yield
    for executor in stop_executors():  # the command executors this test's systems started
        executor.database.dispose()
    forget_clients()
    clear_call_history()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SimulatedCluster]:
    """Two CoBo servers and a MuTAnT server writing GRAW files while running."""
    sims = SimulatedCluster(2, mutant=True, data_dir=tmp_path / "routers", graw_interval=0.05)
    try:
        yield sims
    finally:
        sims.stop()


def _dashboard(system: DAQSystem) -> DAQDashboard:
    poller = StatePoller(system.database, period=0.2, routers=LocalRouters(), router_period=0.2)
    return DAQDashboard(system, state_poller=poller.start())


def test_a_whole_run_from_the_dashboard(cluster: SimulatedCluster) -> None:
    with daq_system(cluster, select=False) as daq:
        sheet = daq.runsheet
        sheet.add_observable("beam energy", float, units="MeV/u")
        sheet.add_observable("trigger rate", int, units="Hz")
        dash = _dashboard(daq)
        try:
            # the config pickers are filled from GetConfigIDs without a click
            dash.wait_for(
                lambda d: (
                    all(len(r.config.options) > 1 for r in d.servers.rows.values())
                    and d.snapshot.overall == "Idle"
                    and not d.background.busy
                )
            )
            assert {r: dash.server_status(r) for r in dash.servers.rows} == dict.fromkeys(
                ("ECC_0", "ECC_1", "ECC_mutant"), "Idle"
            )
            assert enabled(dash) == {"Describe"}
            # Describe before any config is chosen: refused by the core, said on screen
            dash.system_buttons.buttons["Describe"].click()
            dash.settle()
            assert "no config selected" in text(dash.messages.value)
            assert all(sim.state is State.IDLE for sim in cluster)

            for name, config in zip(("ECC_0", "ECC_1", "ECC_mutant"), cluster.configs, strict=True):
                dash.servers.rows[name].config.value = (
                    config.describe,
                    config.prepare,
                    config.configure,
                )
            dash.settle()
            assert [s.config for s in daq.snapshot().servers] == [
                (c.describe, c.prepare, c.configure) for c in cluster.configs
            ]

            for button, state, legal in (
                ("Describe", "Described", {"Prepare", "Reset"}),
                ("Prepare", "Prepared", {"Configure", "Reset"}),
                ("Configure", "Ready", {"Start", "Reset"}),
            ):
                dash.system_buttons.buttons[button].click()
                dash.wait_for(overall(state))
                assert enabled(dash) == legal, button
            assert all(sim.state is State.READY for sim in cluster)

            # the run number is shown before the start (runs count from 1) and can be changed
            assert dash.run_info.number.value == 1
            dash.run_info.number.value = 7
            dash.settle()
            assert daq.next_run_number == 7
            dash.run_info.title.value = "beam on target"
            dash.run_info.run_class.value = "Beam"
            dash.system_buttons.buttons["Start"].click()
            dash.wait_for(lambda d: d.snapshot.run_number == 7 and d.snapshot.overall == "Running")
            assert enabled(dash) == {"Stop", "Reset"}
            assert dash.run_info.number.disabled
            assert "Run 7 running" in text(dash.run_info.started.value)
            run = daq.current_run
            assert run is not None and run.title == "beam on target" and run.run_class == "Beam"

            # the run sheet follows the new run; a bad typed value is refused
            dash.run_info.edit_sheet.click()
            editor = dash.runsheet
            assert dash.tabs.selected_index == 1 and editor.run.value == 7
            editor.fields["beam energy"].value = "9.2"
            editor.fields["trigger rate"].value = "many"
            editor.save_button.click()
            assert "not a whole number" in text(editor.message.value)
            assert daq.runsheet.run(7).values == {}
            editor.fields["trigger rate"].value = "410"
            editor.save_button.click()
            assert "saved" in text(editor.message.value)
            assert daq.runsheet.run(7).values == {"beam energy": 9.2, "trigger rate": 410}
            assert "410" in editor.table.value
            assert editor.plot_choice.value == "beam energy"
            assert list(editor.points.x) == [7] and list(editor.points.y) == [9.2]

            dash.system_buttons.buttons["Stop"].click()
            dash.wait_for(
                lambda d: (
                    d.snapshot.run_number is None
                    and not d.snapshot.active_commands
                    and all(r.clean for r in d.snapshot.routers)
                )
            )
            assert all(sim.state is State.READY for sim in cluster)
            assert daq.runs()[-1].files_organized
            for sim in cluster:
                assert list((sim.data_dir / "e20009" / "run_0007").glob("*.graw"))
                assert not list(sim.data_dir.glob("*.graw"))
            dash.tick()
            assert "Organize files" in text(dash.log_panel.commands.value)
            assert "run 7 stopped" in text(dash.log_panel.entries.value)
            assert "Clean" in text(dash.routers.value)
            assert enabled(dash) == {"Start", "Reset"}
            assert dash.run_info.number.value == 8
            # a number already taken is refused, and the field shows the stored one again
            dash.run_info.number.value = 7
            dash.settle()
            assert "run 7 exists already" in text(dash.messages.value)
            assert dash.run_info.number.value == 8 and daq.next_run_number == 8

            # CSV download of the sheet, with the run just taken
            editor.reload()
            assert "run_0" not in editor.csv.value  # a data: link, not a file path
            assert "Download the run sheet (CSV, 1 run)" in text(editor.csv.value)
        finally:
            dash.close()


def test_same_as_previous_and_new_observables(cluster: SimulatedCluster) -> None:
    with daq_system(cluster) as daq:
        daq.runsheet.add_observable("gas pressure", "float", units="Torr")
        from shiftdesk.daq.runs import RunClass, close_run, open_run

        for n in (1, 2):
            open_run(daq.database, daq.experiment_id, n, title=f"run {n}",
                     run_class=RunClass.BEAM, config_names="", user="alice")  # fmt: skip
            close_run(daq.database, daq.experiment_id)
        daq.runsheet.update(1, {"gas pressure": 150.5}, title="pressure scan")
        dash = DAQDashboard(daq)
        try:
            editor = dash.runsheet
            assert editor.run.value == 2
            editor.previous_button.click()
            assert editor.fields["gas pressure"].value == "150.5"
            assert editor.title.value == "pressure scan"
            assert daq.runsheet.run(2).values == {}  # only filled in, not saved yet
            editor.save_button.click()
            assert daq.runsheet.run(2).values == {"gas pressure": 150.5}
            assert daq.runsheet.run(2).title == "pressure scan"

            editor.new_name.value = "Gas Pressure"
            editor.add_button.click()
            assert "exists already" in text(editor.message.value)
            editor.new_name.value, editor.new_type.value = "target", "string"
            editor.add_button.click()
            assert "target" in editor.fields
            assert [o.name for o in daq.runsheet.observables()] == ["gas pressure", "target"]
            assert editor.plot_choice.options == (("gas pressure", "gas pressure"),)  # no text
        finally:
            dash.close()


def test_read_only_users_see_disabled_buttons_and_the_core_refuses(
    cluster: SimulatedCluster,
) -> None:
    with daq_system(cluster) as operator:
        daq = DAQSystem(
            operator.database, VISITOR, controller=operator.controller, routers=operator.routers
        )
        assert not daq.can_operate
        dash = _dashboard(daq)
        try:
            dash.wait_for(lambda d: d.snapshot.overall == "Idle")
            assert "read-only" in text(dash.who.value)
            assert enabled(dash) == set()
            row = dash.servers.rows["ECC_0"]
            assert row.config.disabled
            dash.expert.value = True
            assert all(b.disabled for b in row.buttons.values())
            assert dash.runsheet.add_button.disabled and dash.run_info.number.disabled
            # a forced click still reaches the core, which refuses it
            dash.system_buttons.buttons["Describe"].click()
            dash.settle()
            shown = text(dash.messages.value)
            assert "'mallory' may not send Describe" in shown
            assert "sd-message-error" in dash.messages.value
            row.buttons["Describe"].click()
            dash.settle()
            assert "may not send Describe to ECC_0" in text(dash.messages.value)
            assert all(sim.state is State.IDLE for sim in cluster)
            assert not any(req.operation == "Describe" for sim in cluster for req in sim.requests)
            dash.runsheet.new_name.value = "sneaky"
            dash.runsheet.add_button.click()
            assert "may not edit the run sheet" in text(dash.runsheet.message.value)
        finally:
            dash.close()


def test_offline_server_and_transition_spinner(cluster: SimulatedCluster) -> None:
    with daq_system(cluster, identity=OPERATOR) as daq:
        dash = _dashboard(daq)
        try:
            dash.wait_for(lambda d: d.snapshot.overall == "Idle")
            # a transition in progress shows a spinner and the transition's name
            cluster[1].hold()
            dash.system_buttons.buttons["Describe"].click()
            dash.wait_for(lambda d: "Describing" in d.server_status("ECC_1"))
            assert "fa-spin" in dash.servers.rows["ECC_1"].status.value
            assert enabled(dash) == set()  # nothing is legal while the system is busy
            cluster[1].release()
            dash.wait_for(overall("Described"))
            assert "fa-spin" not in dash.servers.rows["ECC_1"].status.value

            # expert mode: one server at a time
            assert dash.servers.rows["ECC_0"].expert.layout.display == "none"
            dash.expert.value = True
            row = dash.servers.rows["ECC_0"]
            assert row.expert.layout.display == ""
            assert {n for n, b in row.buttons.items() if not b.disabled} == {
                "Prepare", "Undo", "Reset"
            }  # fmt: skip
            row.buttons["Reset"].click()
            dash.wait_for(
                lambda d: d.server_status("ECC_0") == "Idle" and overall("Inconsistent")(d)
            )
            assert cluster[0].state is State.IDLE and cluster[1].state is State.DESCRIBED
            assert dash.snapshot.overall == "Inconsistent" and enabled(dash) == set()

            # a server that stops answering is shown Offline, with the reason
            cluster[2].refuse()
            dash.wait_for(
                lambda d: (
                    d.server_status("ECC_mutant").startswith("Offline")
                    and "ECC_mutant is offline" in d.log_panel.entries.value
                )
            )
            assert "sd-daq-offline" in dash.servers.rows["ECC_mutant"].status.value
            assert dash.snapshot.overall == "Offline" and enabled(dash) == set()
            assert dash.server_status("ECC_1").startswith("Described")  # others unaffected
        finally:
            dash.close()


def test_stored_state_without_a_poller_is_marked_stale(cluster: SimulatedCluster) -> None:
    with daq_system(cluster) as daq:
        daq.refresh()
        dash = DAQDashboard(daq)  # no core poller: readings age
        try:
            dash.wait_for(lambda d: d.server_status("ECC_0").startswith("Stale"), timeout=10)
            assert "no poller is running" in text(dash.run_info.state.value)
            assert enabled(dash) == set()
        finally:
            dash.close()


def test_view_dispatches_a_daq_system(cluster: SimulatedCluster) -> None:
    with daq_system(cluster) as daq:
        dash = view(daq)
        try:
            assert isinstance(dash, DAQDashboard) and dash.system is daq
        finally:
            dash.close()


def test_a_command_that_fails_on_a_server_is_reported(cluster: SimulatedCluster) -> None:
    with daq_system(cluster) as daq:
        dash = _dashboard(daq)
        try:
            dash.wait_for(overall("Idle"))
            cluster[1].fail("Describe", "Could not connect to 'CoBo' node '1'")
            dash.system_buttons.buttons["Describe"].click()
            dash.wait_for(lambda d: "failed" in text(d.messages.value))
            shown = text(dash.messages.value)
            assert "Describe all failed" in shown and "node '1'" in shown
            assert "sd-message-error" in dash.messages.value
            dash.wait_for(lambda d: "node '1'" in text(d.log_panel.entries.value))
            # the server's own log tail says it too; the others' say they were done
            row = dash.servers.rows["ECC_1"]
            row.show_log.value = True
            assert row.log_box.layout.display == ""
            assert "Describe: failed" in text(row.log_box.value)
            assert "node '1'" in text(row.log_box.value)
            other = dash.servers.rows["ECC_0"]
            assert other.log_box.value == ""  # read only while shown
            other.show_log.value = True
            assert "Describe: done in" in text(other.log_box.value)
        finally:
            dash.close()


def test_the_demo_runs_simulated_servers_and_a_second_view_watches_it() -> None:
    first = DAQDashboard.start()
    try:
        assert first.demo is not None and first.system.experiment_name == "demo"
        first.wait_for(overall("Idle"))
        assert [s.config for s in first.snapshot.servers] == [
            ("cobo0",) * 3, ("cobo1",) * 3, ("mutant",) * 3
        ]  # fmt: skip
        assert first.snapshot.next_run_number == 4  # after the demo's history, runs 1-3
        assert "pulser check" in first.runsheet.table.value
        second = DAQDashboard.start()
        try:
            assert second.demo is None and second.state_poller is None
            for dashboard in (first, second):  # both say the servers are not real ones
                assert "demo: the ECC servers are simulated" in text(dashboard.who.value)
            assert [s.url for s in second.snapshot.servers] == [
                s.url for s in first.snapshot.servers
            ]
        finally:
            second.close()
    finally:
        first.close()
    assert not first.demo.cluster[0].listening


def test_start_shows_the_configured_experiment_read_only_to_others(
    cluster: SimulatedCluster,
) -> None:
    from shiftdesk.daq.poller import ensure_poller

    with daq_system(cluster) as daq:
        dash = DAQDashboard.start()  # as the OS user, not an operator of e20009
        try:
            assert dash.demo is None and dash.system.experiment_name == "e20009"
            assert not dash.can_operate
            dash.wait_for(lambda d: d.snapshot.overall == "Idle" and d.snapshot.poller_alive)
            assert enabled(dash) == set()
        finally:
            dash.close()
            poller = ensure_poller(daq.database)  # the one start() left running here
            if poller is not None:
                poller.stop()


def test_one_server_shows_in_its_own_row_and_takes_commands(cluster: SimulatedCluster) -> None:
    from shiftdesk_widgets.daq.server_view import ECCServerView

    with daq_system(cluster) as daq:
        daq.refresh()
        server = daq.servers["ECC_0"]
        row = ECCServerView(server)
        try:
            assert text(row.row.status.value) == "Idle"
            assert row.row.buttons["Describe"].disabled is False
            assert row.row.buttons["Prepare"].disabled is True
            row.row.buttons["Describe"].click()
            daq.commands()[0].wait(10)
            row.refresh()
            assert text(row.row.status.value) == "Described"
            assert "Describe" in text(row.row.log_box.value)
        finally:
            row.close()
        visitor = ECCServerView(DAQSystem(daq.database, VISITOR).servers["ECC_0"])
        try:
            assert all(b.disabled for b in visitor.row.buttons.values())
        finally:
            visitor.close()


def widgets_of(root: w.Widget) -> Iterator[w.Widget]:
    """``root`` and every widget inside it (boxes and tabs)."""
    yield root
    for child in getattr(root, "children", ()):
        if isinstance(child, w.Widget):
            yield from widgets_of(child)


def test_after_a_run_the_header_is_fresh_unless_same_as_previous(
    cluster: SimulatedCluster,
) -> None:
    with daq_system(cluster) as daq:
        dash = _dashboard(daq)
        info = dash.run_info
        try:
            dash.wait_for(overall("Idle"))
            for button, state in (
                ("Describe", "Described"),
                ("Prepare", "Prepared"),
                ("Configure", "Ready"),
            ):
                dash.system_buttons.buttons[button].click()
                dash.wait_for(overall(state))
            # said once: "Configure all: done in 0.3 s", not "Configure all: Configure done"
            dash.wait_for(lambda d: not d._following)
            assert re.fullmatch(r"Configure all: done in \d+\.\d s", text(dash.messages.value))
            # no separator without something after it
            assert text(info.started.value) == "No run is being taken · next run 1"
            assert info.duration.layout.display == "none"

            info.title.value, info.run_class.value = "beam on target", "Beam"
            dash.system_buttons.buttons["Start"].click()
            dash.wait_for(lambda d: d.snapshot.overall == "Running" and not d._following)
            assert text(dash.messages.value) == "Start: run 1 started"
            assert text(info.duration.value).startswith("· duration 00:00:")
            assert info.duration.layout.display == ""
            dash.system_buttons.buttons["Stop"].click()
            dash.wait_for(lambda d: d.snapshot.run_number is None and not d._following)
            assert text(dash.messages.value) == "Stop: run 1 stopped; organising its files"
            # the next run is not logged with this one's title unless the operator says so
            assert (info.title.value, info.run_class.value) == ("", "Testing")
            assert text(info.started.value) == "No run is being taken · next run 2"

            info.same.value = True  # "Same as previous": the last run's title and class
            assert (info.title.value, info.run_class.value) == ("beam on target", "Beam")
            dash.wait_for(lambda d: "Start" in enabled(d))
            dash.system_buttons.buttons["Start"].click()
            dash.wait_for(lambda d: d.snapshot.run_number == 2 and not d._following)
            dash.system_buttons.buttons["Stop"].click()
            dash.wait_for(lambda d: d.snapshot.run_number is None and not d._following)
            assert (info.title.value, info.run_class.value) == ("beam on target", "Beam")
            assert [(r.number, r.title, r.run_class) for r in daq.runs()] == [
                (1, "beam on target", "Beam"),
                (2, "beam on target", "Beam"),
            ]
            shift_log = text(dash.log_panel.entries.value)
            assert "run 1 started (Beam: beam on target)" in shift_log

            # every call a server answered is in its log (scrolling), each said once
            row = dash.servers.rows["ECC_0"]
            row.show_log.value = True
            lines = [text(line) for line in re.findall(r"<div class='sd-daq-log-[^>]*>.*?</div>",
                                                        row.log_box.value)]  # fmt: skip
            # (a busy machine may add "ECC_0 is offline (no answer)" and "back online")
            calls = [m[1] for m in map(re.compile(r"\S+ info (\w+): done in \d+\.\d s ").match,
                                       lines) if m]  # fmt: skip
            assert calls == ["Stop", "Start", "Stop", "Start", "Configure", "Prepare", "Describe"]
            assert "overflow:auto" in row.log_box.value
            assert "done Stop done" not in row.log_box.value
        finally:
            dash.close()


def test_disabled_system_buttons_lose_their_colour(cluster: SimulatedCluster) -> None:
    with daq_system(cluster) as daq:
        dash = _dashboard(daq)
        try:
            dash.wait_for(overall("Idle"))
            buttons = dash.system_buttons.buttons
            assert enabled(dash) == {"Describe"}
            assert {n: b.button_style for n, b in buttons.items() if b.disabled} == dict.fromkeys(
                ("Prepare", "Configure", "Start", "Stop", "Reset"), ""
            )
            for button, state in (("Describe", "Described"), ("Prepare", "Prepared"),
                                  ("Configure", "Ready")):  # fmt: skip
                buttons[button].click()
                dash.wait_for(overall(state))
            assert buttons["Start"].button_style == "success" and not buttons["Start"].disabled
            assert buttons["Reset"].button_style == "warning"
            assert buttons["Stop"].disabled and buttons["Stop"].button_style == ""
        finally:
            dash.close()


def test_every_control_has_a_real_tooltip(cluster: SimulatedCluster) -> None:
    """A tooltip of None is shown as "null" by a toggle button and by a description's label."""
    with daq_system(cluster) as daq:
        daq.runsheet.add_observable("gas pressure", "float", units="Torr")
        dash = _dashboard(daq)
        try:
            dash.wait_for(overall("Idle"))
            dash.expert.value = True
            missing = [
                f"{type(widget).__name__} {getattr(widget, 'description', '')!r} "
                f"{widget._dom_classes}"
                for widget in widgets_of(dash)
                if widget.tooltip is None
                and (
                    isinstance(widget, w.ToggleButton | w.Button | w.Checkbox)
                    or getattr(widget, "description", "")
                )
            ]
            assert missing == []
            assert (
                dash.servers.rows["ECC_0"].show_log.tooltip == "show or hide what happened to ECC_0"
            )
        finally:
            dash.close()


def test_the_run_sheet_plot_of_one_run_has_one_whole_tick(cluster: SimulatedCluster) -> None:
    from shiftdesk.daq.runs import RunClass, close_run, open_run
    from shiftdesk_widgets.daq.runsheet import padded

    with daq_system(cluster) as daq:
        daq.runsheet.add_observable("beam energy", "float", units="MeV/u")
        open_run(daq.database, daq.experiment_id, 1, title="", run_class=RunClass.BEAM,
                 config_names="", user="alice")  # fmt: skip
        close_run(daq.database, daq.experiment_id)
        daq.runsheet.update(1, {"beam energy": 8.5})
        dash = DAQDashboard(daq)
        try:
            editor = dash.runsheet
            assert list(editor.points.x) == [1] and list(editor.points.y) == [8.5]
            # one tick at run 1 on a range around it (d3's own ticks of 0.5..1.5 read
            # "0 0 0 0 0 1 1 1 1 1" with the whole-number format)
            assert list(editor.x_axis.tick_values) == [1]
            assert (editor.x.min, editor.x.max) == (0.5, 1.5)
            assert editor.x_axis.tick_format == "d"
            # the value axis keeps 8.5 (a "d" or ".0f" format reads 9) around the point
            assert editor.y_axis.tick_format == "~g"
            assert editor.y.min < 8.5 < editor.y.max
            assert "(CSV, 1 run)" in text(editor.csv.value)
        finally:
            dash.close()
    assert padded([]) == (None, None)
    assert padded([3, 4, 5], whole=True) == (2.5, 5.5)
    assert padded([150.0, 200.0]) == (146.0, 204.0)


def test_the_notebook_says_daq_shift_once_for_the_operator() -> None:
    import json

    notebook = json.loads((Path(__file__).parents[2] / "notebooks" / "daq.ipynb").read_text())
    cells = notebook["cells"]
    assert all(c.get("outputs", []) == [] for c in cells)  # stored without outputs
    markdown = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "DAQ shift" not in markdown  # the dashboard's heading is the page's one
    assert "simulated" not in markdown and "demo" not in markdown  # not developer notes
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert code == ["from shiftdesk_widgets.page import Page\n\n"
                    'page = Page.start("daq")\npage']  # fmt: skip


def test_a_picked_config_stays_shown_until_it_is_stored(cluster: SimulatedCluster) -> None:
    """A refresh while the pick is on its way must not snap the picker back to the stored
    config (a second pick of that config would then be no change, never sent)."""
    from shiftdesk_widgets.daq import servers

    with daq_system(cluster, select=False) as daq:
        dash = _dashboard(daq)
        try:
            dash.wait_for(lambda d: all(len(r.config.options) > 1 for r in d.servers.rows.values()))
            row = dash.servers.rows["ECC_0"]
            picked: list[tuple[str, object]] = []
            row._on_select = lambda name, value: picked.append((name, value))  # held: in flight
            stored = next(s for s in dash.snapshot.servers if s.name == "ECC_0")
            assert stored.config is None
            wanted = row.config.options[1][1]
            row.config.value = wanted
            assert picked == [("ECC_0", wanted)]
            row.update(stored, True, False)  # the stored state does not have it yet
            assert row.config.value == wanted
            # a pick that never arrives gives way to the stored state after a while
            assert row._picking is not None
            row._picking = (wanted, row._picking[1] - servers.PICK_GRACE - 1)
            row.update(stored, True, False)
            assert row.config.value is None
        finally:
            dash.close()


def test_the_dashboards_module_leaves_the_run_sheets_figure_libraries_for_later() -> None:
    # bqplot and pandas are ~0.5 s of a fresh kernel (every Voilà page has one), used only
    # by the Run sheet tab's figure, which is built when the tab is first picked
    import subprocess
    import sys

    code = (
        "import sys; from shiftdesk_widgets.daq import DAQDashboard\n"
        "print(sorted(m for m in ('bqplot', 'pandas') if m in sys.modules))\n"
        "from shiftdesk_widgets.daq import RunSheetEditor; print(RunSheetEditor.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "RunSheetEditor"]
