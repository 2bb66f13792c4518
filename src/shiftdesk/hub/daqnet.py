"""The demo's DAQ network: simulated ECC servers only the service account can reach.

GET ECC servers take SOAP commands from anyone who can open a TCP connection to them;
they have no logins. At a facility they sit on a DAQ network that users' machines do
not route to, and only the DAQ host (here: the gate and the DAQ services) talks to
them. On one machine the demo does the same with the packet filter: the simulated
servers listen on their own loopback address (:data:`ADDRESS`), and ``iptables`` lets
only root and the service account open connections to it; a user's kernel gets
"connection refused". The rules live in a chain of their own, added at start and
removed at stop. Without ``iptables`` the hub says plainly that user kernels could
reach the simulated servers.
"""

from __future__ import annotations

import os
import shutil
import subprocess

#: the loopback address of the demo's "DAQ network"
ADDRESS = "127.0.0.2"


def _iptables() -> str | None:
    found = shutil.which("iptables")
    if found is None and os.path.exists("/usr/sbin/iptables"):
        found = "/usr/sbin/iptables"
    return found


class DAQNetwork:
    """Packet-filter rules keeping :data:`ADDRESS` for root and the service account.

    Parameters
    ----------
    service_uid : int
        The service account's user id.
    run_id : str
        The hub run (names the chain, so two hubs never touch each other's rules).
    """

    def __init__(self, service_uid: int, run_id: str) -> None:
        self.service_uid = service_uid
        self.chain = f"SHIFTDESK-DAQ-{run_id[:12]}"
        self.installed = False
        self.problem = ""

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        program = _iptables()
        assert program is not None
        return subprocess.run(
            [program, "-w", "5", *args], capture_output=True, text=True, timeout=30, check=False
        )

    def install(self) -> bool:
        """Add the rules; False (with :attr:`problem` saying why) when they cannot be."""
        if _iptables() is None:
            self.problem = "iptables is not installed (apt-get install iptables)"
            return False
        self.remove()
        steps = [
            ("-N", self.chain),
            ("-A", self.chain, "-m", "owner", "--uid-owner", "0", "-j", "RETURN"),
            ("-A", self.chain, "-m", "owner", "--uid-owner", str(self.service_uid), "-j", "RETURN"),
            ("-A", self.chain, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"),
            ("-A", self.chain, "-j", "REJECT"),
            ("-I", "OUTPUT", "-d", ADDRESS, "-j", self.chain),
        ]
        for step in steps:
            result = self._run(*step)
            if result.returncode != 0:
                self.problem = (result.stderr or result.stdout).strip() or "iptables failed"
                self.remove()
                return False
        self.installed = True
        return True

    def remove(self) -> None:
        """Take the rules away again (safe when there are none)."""
        if _iptables() is None:
            return
        while self._run("-D", "OUTPUT", "-d", ADDRESS, "-j", self.chain).returncode == 0:
            pass
        self._run("-F", self.chain)
        self._run("-X", self.chain)
        self.installed = False
