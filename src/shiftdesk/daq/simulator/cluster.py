"""Several simulated ECC servers at once: :func:`simulate` and :class:`SimulatedCluster`."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shiftdesk.daq.ecc.errors import ECCValueError
from shiftdesk.daq.ecc.types import ConfigId, State
from shiftdesk.daq.simulator.configs import write_config_set
from shiftdesk.daq.simulator.server import SimulatedECC

_PREPARED_OR_LATER = (State.PREPARED, State.READY, State.RUNNING, State.PAUSED)


class SimulatedCluster:
    """N simulated ECC servers (one per CoBo) and optionally one for the MuTAnT.

    Server ``i`` describes ``CoBo[i]`` with config set ``cobo<i>``; the MuTAnT server
    (last, when asked for) describes ``Mutant[master]`` with set ``mutant``. All servers
    share one config folder, as they would share a config repository; each writes GRAW
    files into ``<data_dir>/data<i>``.

    Parameters
    ----------
    n : int
        Number of CoBo servers (≥ 1; the MuTAnT server comes on top).
    mutant : bool
        Add a MuTAnT server.
    config_dir : str or Path, optional
        Config folder; a temporary one is made (and removed) when omitted. Missing
        ``cobo<i>``/``mutant`` sets are written into it.
    data_dir : str or Path, optional
        Parent of the data router folders (no GRAW files when omitted).
    base_port : int
        First port (server ``i`` listens on ``base_port + i``); 0 picks free ports.
    enforce_mutant_order : bool
        Couple the MuTAnT and the CoBos as the hardware does (notes §1.6, §4): a CoBo
        cannot Prepare before the MuTAnT is Prepared, and the MuTAnT cannot Start before
        every CoBo is Running ("shelf not ready"). Needs ``mutant=True``.
    **options
        Passed to every :class:`SimulatedECC` (durations, drop_prefixed_params, …).
    """

    def __init__(
        self,
        n: int,
        *,
        mutant: bool = False,
        config_dir: str | Path | None = None,
        data_dir: str | Path | None = None,
        base_port: int = 0,
        host: str = "127.0.0.1",
        enforce_mutant_order: bool = False,
        **options: Any,
    ) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ECCValueError(f"the number of simulated servers must be ≥ 1, got {n!r}")
        if isinstance(base_port, bool) or not isinstance(base_port, int) or base_port < 0:
            raise ECCValueError(f"base port must be a port number (or 0), got {base_port!r}")
        self._tmp = None if config_dir is not None else tempfile.mkdtemp(prefix="shiftdesk-ecc-")
        self.config_dir = Path(config_dir if config_dir is not None else str(self._tmp))
        self.data_dir = Path(data_dir) if data_dir is not None else None
        layout = [(f"cobo{i}", [f"CoBo[{i}]"]) for i in range(n)]
        if mutant:
            layout.append(("mutant", ["Mutant[master]"]))
        self.servers: list[SimulatedECC] = []
        self.configs: list[ConfigId] = []
        try:
            for i, (name, senders) in enumerate(layout):
                if (self.config_dir / f"describe-{name}.xcfg").exists():
                    config = ConfigId.same(name)
                else:
                    config = write_config_set(self.config_dir, name, senders)
                server = SimulatedECC(
                    self.config_dir,
                    host=host,
                    port=base_port + i if base_port else 0,
                    name=f"ECC_{name}",
                    data_dir=self.data_dir / f"data{i}" if self.data_dir else None,
                    **options,
                )
                server.default_config = config
                self.servers.append(server)
                self.configs.append(config)
        except BaseException:
            self.stop()
            raise
        if enforce_mutant_order:
            if not mutant:
                self.stop()
                raise ECCValueError("enforce_mutant_order needs mutant=True")
            self._couple(self.servers[-1], self.servers[:-1])

    @staticmethod
    def _couple(mutant: SimulatedECC, cobos: list[SimulatedECC]) -> None:
        def mutant_check(op: str) -> str | None:
            if op == "Start" and any(c.state != State.RUNNING for c in cobos):
                return "Error: shelf not ready: start every CoBo before the MuTAnT"
            return None

        def cobo_check(op: str) -> str | None:
            if op == "Prepare" and mutant.state not in _PREPARED_OR_LATER:
                return "Error: MuTAnT not prepared: prepare the MuTAnT before the CoBos"
            return None

        mutant.precondition = mutant_check
        for cobo in cobos:
            cobo.precondition = cobo_check

    @property
    def urls(self) -> list[str]:
        """Server URLs, in order."""
        return [server.url for server in self.servers]

    @property
    def mutant(self) -> SimulatedECC | None:
        """The MuTAnT server, if there is one."""
        last = self.servers[-1] if self.servers else None
        return last if last is not None and last.name == "ECC_mutant" else None

    def __len__(self) -> int:
        return len(self.servers)

    def __iter__(self) -> Iterator[SimulatedECC]:
        return iter(self.servers)

    def __getitem__(self, index: int) -> SimulatedECC:
        return self.servers[index]

    def __enter__(self) -> SimulatedCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every server and remove the temporary config folder."""
        for server in self.servers:
            server.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


@contextmanager
def simulate(n: int = 1, **options: Any) -> Iterator[SimulatedCluster]:
    """Run ``n`` simulated ECC servers for the duration of a ``with`` block.

    Takes the arguments of :class:`SimulatedCluster`.

    Examples
    --------
    >>> from shiftdesk.daq import ECCClient
    >>> with simulate(2) as cluster:
    ...     ECCClient(cluster.urls[0]).get_state()[0].label
    'Idle'
    """
    cluster = SimulatedCluster(n, **options)
    try:
        yield cluster
    finally:
        cluster.stop()
