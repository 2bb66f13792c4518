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

            # the run number is shown before the start and can be changed
            assert dash.run_info.number.value == 0
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
            assert "Download the run sheet (CSV, 1 runs)" in text(editor.csv.value)
        finally:
            dash.close()


def test_same_as_previous_and_new_observables(cluster: SimulatedCluster) -> None:
    with daq_system(cluster) as daq:
        daq.runsheet.add_observable("gas pressure", "float", units="Torr")
        from shiftdesk.daq.runs import RunClass, close_run, open_run

        for n in (0, 1):
            open_run(daq.database, daq.experiment_id, n, title=f"run {n}",
                     run_class=RunClass.BEAM, config_names="", user="alice")  # fmt: skip
            close_run(daq.database, daq.experiment_id)
        daq.runsheet.update(0, {"gas pressure": 150.5}, title="pressure scan")
        dash = DAQDashboard(daq)
        try:
            editor = dash.runsheet
            assert editor.run.value == 1
            editor.previous_button.click()
            assert editor.fields["gas pressure"].value == "150.5"
            assert editor.title.value == "pressure scan"
            assert daq.runsheet.run(1).values == {}  # only filled in, not saved yet
            editor.save_button.click()
            assert daq.runsheet.run(1).values == {"gas pressure": 150.5}
            assert daq.runsheet.run(1).title == "pressure scan"

            editor.new_name.value = "Gas Pressure"
            editor.add_button.click()
            assert "exists already" in text(editor.message.value)
            editor.new_name.value, editor.new_type.value = "target", "string"
            editor.add_button.click()
            assert "target" in editor.fields
            assert [o.name for o in daq.runsheet.observables()] == ["gas pressure", "target"]
            assert editor.plot_choice.options == ("gas pressure",)  # text is not plotted
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
            assert "Describe: done" in text(dash.servers.rows["ECC_0"].log_box.value)
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
        assert first.snapshot.next_run_number == 3  # after the demo's history
        assert "pulser check" in first.runsheet.table.value
        second = DAQDashboard.start()
        try:
            assert second.demo is None and second.state_poller is None
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
