"""DAQ run control for GET electronics: ECC client, simulator, model and control loop."""

from shiftdesk.daq.commands import CommandHandle
from shiftdesk.daq.control import Controller
from shiftdesk.daq.ecc import (
    BUSY_MESSAGE,
    ConfigId,
    DataLink,
    ECCBusy,
    ECCCall,
    ECCClient,
    ECCCommunicationError,
    ECCError,
    ECCHTTPError,
    ECCProtocolError,
    ECCSoapFault,
    ECCTimeout,
    ECCUnreachable,
    ECCValueError,
    State,
    Transition,
    add_call_sink,
    call_history,
    parse_data_senders,
    remove_call_sink,
)
from shiftdesk.daq.errors import (
    CommandFailed,
    DAQError,
    DAQStateError,
    RunSheetError,
    SetupError,
)
from shiftdesk.daq.experiment import activate_experiment, create_experiment, set_operators
from shiftdesk.daq.model import Command, RouterView, ServerView, Snapshot, SourceView
from shiftdesk.daq.poller import Poller, ensure_poller, read_snapshot
from shiftdesk.daq.routers import LocalRouters, RouterAccess, SSHRouters
from shiftdesk.daq.runs import Run, RunClass
from shiftdesk.daq.runsheet import Observable, RunSheet, ValueType
from shiftdesk.daq.setup import RouterSpec, ServerSpec, Setup, SourceSpec, easy_setup
from shiftdesk.daq.system import DAQSystem
from shiftdesk.daq.worker import (
    OrganizeResult,
    ProcessStatus,
    WorkerError,
    WorkerInterface,
)

__all__ = [
    "BUSY_MESSAGE",
    "Command",
    "CommandFailed",
    "CommandHandle",
    "ConfigId",
    "Controller",
    "DAQError",
    "DAQStateError",
    "DAQSystem",
    "DataLink",
    "ECCBusy",
    "ECCCall",
    "ECCClient",
    "ECCCommunicationError",
    "ECCError",
    "ECCHTTPError",
    "ECCProtocolError",
    "ECCSoapFault",
    "ECCTimeout",
    "ECCUnreachable",
    "ECCValueError",
    "LocalRouters",
    "Observable",
    "OrganizeResult",
    "Poller",
    "ProcessStatus",
    "RouterAccess",
    "RouterSpec",
    "RouterView",
    "Run",
    "RunClass",
    "RunSheet",
    "RunSheetError",
    "SSHRouters",
    "ServerSpec",
    "ServerView",
    "Setup",
    "SetupError",
    "Snapshot",
    "SourceSpec",
    "SourceView",
    "State",
    "Transition",
    "ValueType",
    "WorkerError",
    "WorkerInterface",
    "activate_experiment",
    "add_call_sink",
    "call_history",
    "create_experiment",
    "easy_setup",
    "ensure_poller",
    "parse_data_senders",
    "read_snapshot",
    "remove_call_sink",
    "set_operators",
]
