"""The gate tests drive the DAQ on simulated ECC servers: reuse the DAQ fixtures."""

from tests.daq.conftest import _fresh_ecc_clients, ecc_servers  # noqa: F401
