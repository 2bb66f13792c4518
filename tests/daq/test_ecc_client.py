"""The ECC client against simulated GET servers over real HTTP on loopback."""

from __future__ import annotations

import pytest

from shiftdesk.daq import ConfigId, DataLink, ECCClient, State, Transition
from shiftdesk.daq.simulator import SimulatedECC


def test_a_full_cycle_walks_the_state_machine(ecc_server: SimulatedECC) -> None:
    ecc = ECCClient(ecc_server.url, timeout=10)
    config = ConfigId.same("default")
    assert ecc.get_state() == (State.IDLE, Transition.NONE)
    assert ecc.get_config_ids() == [config]
    assert 'id="CoBo[0]"' in ecc.describe(config)
    ecc.prepare(config)
    ecc.configure(config, [DataLink("CoBo[0]", "127.0.0.1", 46005, "TCP")])
    assert ecc.get_state() == (State.READY, Transition.NONE)
    ecc.start()
    assert ecc.get_state()[0] is State.RUNNING
    ecc.stop()
    ecc.breakup()
    ecc.undo()
    ecc.undo()
    assert ecc.get_state() == (State.IDLE, Transition.NONE)


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
