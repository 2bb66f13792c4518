"""SSH plumbing of the DAQ worker interface (see :mod:`shiftdesk.daq.worker`).

``errors`` holds the :class:`~shiftdesk.daq.remote.errors.WorkerError` hierarchy,
``connection`` the paramiko connection, ``processes`` the ``ps`` parsing and
``paths`` the run-folder naming rules.
"""
