"""Compatibility suite: real redis-server, real Python Celery client, real cworker.

The fixtures come from ``python_fixtures/pytest_cworker`` (see docs/testing.md). The worker
under test is ``$CWORKER_BIN`` or ``build/bin/cworker``.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "python_fixtures")
if FIXTURES not in sys.path:
    sys.path.insert(0, FIXTURES)

from pytest_cworker.plugin import *  # noqa: E402,F401,F403  (fixtures and hooks)
