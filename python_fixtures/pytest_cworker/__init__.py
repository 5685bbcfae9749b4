"""pytest plugin and helpers for cworker's compatibility tests.

Fixtures live in :mod:`pytest_cworker.plugin`; this package also exports the helpers that
tests call directly.
"""

from .envelope import (
    EMPTY_EMBED,
    encode_body,
    envelope_task_id,
    make_envelope,
    push_envelope,
    queue_key,
    queued_task_ids,
    task_headers,
)
from .redis_server import BROKER_DB, RESULT_DB, RedisServer, free_port
from .results import (
    BASIC_KEY_ORDER,
    NAIVE_ISO_RE,
    result_key,
    stored_record,
)
from .waiting import WaitTimeout, wait_until
from .worker import (
    RECEIVED_RE,
    SUCCEEDED_RE,
    CworkerFactory,
    CworkerHandle,
    PythonWorkerFactory,
    is_reference_worker,
    resolve_binary,
)

__all__ = [
    "BASIC_KEY_ORDER",
    "NAIVE_ISO_RE",
    "result_key",
    "stored_record",
    "BROKER_DB",
    "EMPTY_EMBED",
    "RECEIVED_RE",
    "RESULT_DB",
    "SUCCEEDED_RE",
    "CworkerFactory",
    "CworkerHandle",
    "PythonWorkerFactory",
    "RedisServer",
    "WaitTimeout",
    "encode_body",
    "envelope_task_id",
    "free_port",
    "is_reference_worker",
    "make_envelope",
    "push_envelope",
    "queue_key",
    "queued_task_ids",
    "resolve_binary",
    "task_headers",
    "wait_until",
]
