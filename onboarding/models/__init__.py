from .company import Company
from .documents import DocumentFormat, DocumentType, RoleDocument
from .preferences import UserSettings
from .role import ProcessingStep, Role, RoleState
from .run import (
    AttemptOutcome,
    PipelineRunner,
    Priority,
    Run,
    RunAttempt,
    RunStatus,
    RunStep,
    StepStatus,
    Throttle,
)
from .run_lifecycle import CANCELLED, LeaseLost
from .simulator import SimulatorCall, SimulatorFault

__all__ = [
    "CANCELLED",
    "LeaseLost",
    "AttemptOutcome",
    "PipelineRunner",
    "RunAttempt",
    "Company",
    "DocumentFormat",
    "DocumentType",
    "ProcessingStep",
    "Role",
    "RoleDocument",
    "RoleState",
    "Run",
    "Priority",
    "RunStatus",
    "UserSettings",
    "RunStep",
    "SimulatorCall",
    "SimulatorFault",
    "StepStatus",
    "Throttle",
]
