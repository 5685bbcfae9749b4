"""Starting, watching and stopping cworker processes."""

import itertools
import os
import re
import signal
import subprocess
import time

from .waiting import WaitTimeout, wait_until

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_BINARY = os.path.join(REPO_ROOT, "build", "bin", "cworker")
REFERENCE_WORKER = os.path.join(REPO_ROOT, "python_fixtures", "reference-worker")

RECEIVED_RE = re.compile(r"Task (?P<name>[\w.:-]+)\[(?P<id>[0-9a-fA-F-]+)\] received")
SUCCEEDED_RE = re.compile(r"Task (?P<name>[\w.:-]+)\[(?P<id>[0-9a-fA-F-]+)\] succeeded in")
SANITIZER_RE = re.compile(
    r"ERROR: (?:Address|Leak|Thread|Memory)Sanitizer|runtime error:|"
    r"SUMMARY: (?:Address|Leak|UndefinedBehavior|Thread)Sanitizer"
)

_names = itertools.count(1)


def resolve_binary():
    """Path of the worker under test: ``$CWORKER_BIN`` or ``build/bin/cworker``."""
    return os.path.abspath(os.environ.get("CWORKER_BIN") or DEFAULT_BINARY)


def is_reference_worker(binary):
    """True when the "worker under test" is the Python Celery stand-in (reference mode)."""
    return os.path.basename(binary) == os.path.basename(REFERENCE_WORKER)


def task_library_dir(binary):
    """``<bin dir>/../lib``: where the example ``libtasks.so`` is built."""
    return os.path.normpath(os.path.join(os.path.dirname(binary), "..", "lib"))


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def proc_stat(pid):
    """The fields of /proc/<pid>/stat after "(comm)": state, ppid, pgrp, session, ...; None
    once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _processes():
    """(pid, stat fields) of every process still there."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = proc_stat(entry)
            if fields is not None:
                yield int(entry), fields


def is_gone(pid):
    """True once ``pid`` has exited (a zombie waiting for its parent counts as gone)."""
    fields = proc_stat(pid)
    return fields is None or fields[0] == "Z"


def children_of(pid):
    """Pids whose parent is ``pid`` (zombies included), from /proc."""
    return sorted(p for p, fields in _processes() if int(fields[1]) == pid)


class CworkerHandle:
    """One running worker process with its stdout/stderr captured to files.

    Every wait is bounded; a wait fails early (with the worker's output in the message)
    when the process exits while being waited on.
    """

    def __init__(self, name, cmd, env, workdir):
        self.name = name
        self.cmd = cmd
        self.workdir = workdir
        self.stdout_path = os.path.join(workdir, f"{name}.stdout.log")
        self.stderr_path = os.path.join(workdir, f"{name}.stderr.log")
        self.checked = False  # exit code and sanitizer output already verified
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                cmd,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self.started_at = time.monotonic()

    # --- output -----------------------------------------------------------------------
    def log_text(self):
        """Everything the worker wrote to stderr (its log) so far."""
        return _read(self.stderr_path)

    def stdout_text(self):
        """Everything the worker wrote to stdout (its banner) so far."""
        return _read(self.stdout_path)

    def log_mark(self):
        """An offset into :meth:`log_text`; pass it as ``since`` to wait for new lines."""
        return len(self.log_text())

    def received_ids(self, since=0):
        """Task ids from ``Task <name>[<id>] received`` lines, in log order."""
        return [m.group("id") for m in RECEIVED_RE.finditer(self.log_text()[since:])]

    def sanitizer_reports(self):
        """Lines of stderr that look like an ASan/LSan/UBSan report."""
        return [line for line in self.log_text().splitlines() if SANITIZER_RE.search(line)]

    def describe(self, since=0, tail_lines=150):
        """Command, exit status and output tails: what a failing test should show."""
        log_lines = self.log_text()[since:].splitlines()
        out_lines = self.stdout_text().splitlines()
        return "\n".join(
            [
                f"--- worker {self.name}: {' '.join(self.cmd)}",
                f"--- exit code: {self.proc.poll()}",
                f"--- stdout (last {min(len(out_lines), 40)} lines):",
                *out_lines[-40:],
                f"--- stderr (last {min(len(log_lines), tail_lines)} lines):",
                *log_lines[-tail_lines:],
            ]
        )

    # --- waiting ----------------------------------------------------------------------
    def wait_for_log(self, pattern, timeout=10.0, since=0, allow_exit=False):
        """Wait until stderr (from offset ``since``) matches ``pattern``; return the match.

        Fails at once if the process has exited without matching (unless ``allow_exit``).
        """
        regex = re.compile(pattern)

        def check():
            match = regex.search(self.log_text(), since)
            if match:
                return match
            if not allow_exit and self.proc.poll() is not None:
                match = regex.search(self.log_text(), since)
                if match:
                    return match
                raise AssertionError(
                    f"worker exited while waiting for /{pattern}/\n" + self.describe(since)
                )
            return None

        return wait_until(
            check,
            timeout,
            interval=0.02,
            message=lambda: f"no /{pattern}/ in the worker log within {timeout}s\n"
            + self.describe(since),
        )

    def wait_ready(self, timeout=20.0):
        """Wait for Celery's ``<nodename> ready.`` line."""
        return self.wait_for_log(r"\S+ ready\.", timeout=timeout)

    def wait_received(self, task_id, timeout=10.0, since=0):
        """Wait for ``Task <name>[<task_id>] received``."""
        pattern = r"Task [\w.:-]+\[" + re.escape(task_id) + r"\] received"
        return self.wait_for_log(pattern, timeout=timeout, since=since)

    # --- process control ----------------------------------------------------------------
    def is_alive(self):
        return self.proc.poll() is None

    def child_pids(self):
        """Pids of the worker's child processes (its prefork pool), from /proc."""
        return children_of(self.proc.pid)

    def leftover_pids(self):
        """Processes still in the worker's session (it runs in its own): after it exited,
        a non-empty list means it left children behind."""
        return [
            p
            for p, fields in _processes()
            if p != self.proc.pid and int(fields[3]) == self.proc.pid and fields[0] != "Z"
        ]

    def send_signal(self, sig):
        if self.is_alive():
            self.proc.send_signal(sig)

    def wait(self, timeout):
        """Exit code, or :class:`WaitTimeout` if still running after ``timeout`` s."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise WaitTimeout(
                f"worker did not exit within {timeout}s\n" + self.describe()
            ) from None

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Send ``sig`` and wait for exit; return the exit code (negative = killed by signal).

        If the worker outlives ``timeout`` it is SIGKILLed and WaitTimeout is raised.
        """
        self.send_signal(sig)
        try:
            return self.wait(timeout)
        except WaitTimeout:
            self.kill()
            raise

    def kill(self):
        """SIGKILL the worker's whole process group (no-op if already gone)."""
        if self.is_alive():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


class CworkerFactory:
    """Starts workers against given broker/backend URLs and remembers them all.

    ``start()`` builds a Celery-style command line (``-A tasks -b … --result-backend …
    -P solo -c 1 -l INFO -n <name>@%h``) and by default returns only after the worker
    logged ``ready.``. ``close()`` stops whatever is still running.
    """

    default_app = "tasks"
    # $CWORKER_TEST_POOL runs the whole suite on another pool (scripts/check.sh runs it once
    # with "green"); tests that need a particular pool pass pool= themselves.
    default_pool = os.environ.get("CWORKER_TEST_POOL", "solo")
    default_concurrency = int(os.environ.get("CWORKER_TEST_CONCURRENCY", "1"))
    name_prefix = "w"

    def __init__(self, binary, workdir, broker_url, backend_url):
        self.binary = binary
        self.workdir = workdir
        self.broker_url = broker_url
        self.backend_url = backend_url
        self.handles = []

    def command(
        self,
        *extra_args,
        queues=None,
        concurrency=None,
        prefetch_multiplier=None,
        broker_url=None,
        backend_url=None,
        nodename=None,
        loglevel="INFO",
        app=None,
        pool=None,
    ):
        """The worker's argv.

        ``broker_url=False`` / ``backend_url=False`` omit ``-b`` / ``--result-backend``
        (to test the ``CELERY_*`` environment defaults). ``app`` and ``pool`` default to the
        factory's (``tasks`` and ``solo`` for cworker).
        """
        app = app or self.default_app
        pool = pool or self.default_pool
        if concurrency is None:
            concurrency = self.default_concurrency
        cmd = [self.binary, "-A", app]
        if broker_url is not False:
            cmd += ["-b", broker_url or self.broker_url]
        if backend_url is not False:
            cmd += ["--result-backend", backend_url or self.backend_url]
        cmd += ["-P", pool, "-c", str(concurrency), "-l", loglevel]
        if nodename:
            cmd += ["-n", nodename]
        if queues:
            cmd += ["-Q", queues if isinstance(queues, str) else ",".join(queues)]
        if prefetch_multiplier is not None:
            cmd += ["--prefetch-multiplier", str(prefetch_multiplier)]
        return cmd + [str(arg) for arg in extra_args]

    def environment(self, env=None):
        merged = dict(os.environ)
        merged["CWORKER_PATH"] = task_library_dir(self.binary)
        merged.pop("CELERY_BROKER_URL", None)
        merged.pop("CELERY_RESULT_BACKEND", None)
        merged.update(env or {})
        return merged

    def start(
        self, *extra_args, env=None, queues=None, wait_ready=True, ready_timeout=20.0, **options
    ):
        """Start a worker; see :meth:`command` for ``options``. Returns a CworkerHandle."""
        name = f"{self.name_prefix}{next(_names)}"
        options.setdefault("nodename", f"{name}@%h")
        cmd = self.command(*extra_args, queues=queues, **options)
        handle = CworkerHandle(name, cmd, self.environment(env), self.workdir)
        self.handles.append(handle)
        if wait_ready:
            handle.wait_ready(ready_timeout)
        return handle

    def close(self, timeout=15.0):
        """Warm-stop every worker still running; return ``{handle: exit code}`` of those."""
        codes = {}
        for handle in self.handles:
            if handle.is_alive():
                try:
                    codes[handle] = handle.stop(signal.SIGTERM, timeout)
                except WaitTimeout:
                    codes[handle] = None
        return codes


class PythonWorkerFactory(CworkerFactory):
    """Starts real Python Celery workers for mixed deployments (beside the worker under test).

    Defaults: app ``pyside`` (``python_fixtures/pyside.py``), queue ``python``, ``-P solo``
    (``pool="threads", concurrency=4`` work too, but Celery's thread pool acks up to a
    second late, which every test's ``unacked`` check then waits for). Workers run through
    ``python_fixtures/reference-worker``, so they accept the same command line as cworker
    (``--route``, ``--result-extended``, ``--config``, ...). Handles are
    :class:`CworkerHandle` objects named ``py<N>``.
    """

    default_app = "pyside"
    default_pool = "solo"
    name_prefix = "py"

    def __init__(self, workdir, broker_url, backend_url):
        super().__init__(REFERENCE_WORKER, workdir, broker_url, backend_url)

    def start(self, *extra_args, queues="python", concurrency=1, **options):
        return super().start(*extra_args, queues=queues, concurrency=concurrency, **options)
