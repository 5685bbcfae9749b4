"""Reading Celery result records straight from the result database."""

import json
import re

RESULT_KEY_PREFIX = "celery-task-meta-"
# Keys of a plain (not result_extended) record, in the order Celery 5.2.6 writes them.
BASIC_KEY_ORDER = ["status", "result", "traceback", "children", "date_done", "task_id"]
# Celery 5.2/5.3 ``date_done``: naive UTC isoformat (microseconds dropped when zero).
NAIVE_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?$")


def result_key(task_id):
    return f"{RESULT_KEY_PREFIX}{task_id}"


def stored_record(client, task_id):
    """The JSON record stored for ``task_id`` (a dict in stored key order), or None."""
    raw = client.get(result_key(task_id))
    return None if raw is None else json.loads(raw)
