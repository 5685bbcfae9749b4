"""Security: who the worker runs as, and how it authenticates to Redis.

- As root it refuses to start without consent (``--allow-root`` or Celery's ``C_FORCE_ROOT``);
  ``--uid``/``--gid`` switch user before the task library loads (prefork children too).
- Redis AUTH with an ACL user and password in the URL, a database number, a unix socket for the
  result backend; a wrong password is a clear, retried error, not a crash.
(Pickle and other code-running serializers are refused in test_malformed.py.)
"""

import glob
import os
import shutil
import subprocess
import tempfile

import pytest
from celery import Celery

from pytest_cworker.plugin import RESULT_TIMEOUT, close_app
from pytest_cworker.waiting import wait_until
from pytest_cworker.worker import CworkerFactory, task_library_dir

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="only root can refuse root")


def uids_of(pid):
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError(f"no Uid line for {pid}")


@needs_root
def test_refuses_to_run_as_root_without_consent(cworker):
    env = cworker.environment({})
    env.pop("C_FORCE_ROOT", None)
    proc = subprocess.run(cworker.command(), env=env, capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.returncode == 1
    assert "refusing to run the worker as root" in proc.stderr
    assert "--uid" in proc.stderr and "C_FORCE_ROOT" in proc.stderr


@pytest.fixture
def readable_build(cworker_binary):
    """The worker and its libraries copied where user ``nobody`` can read them: the checkout
    may sit in a directory only root can enter (prefork children are exec'd as ``nobody``)."""
    root = tempfile.mkdtemp(prefix="cworker-uid-")
    src_lib = task_library_dir(cworker_binary)
    for sub in ("bin", "lib"):
        os.makedirs(os.path.join(root, sub))
    shutil.copy2(cworker_binary, os.path.join(root, "bin", "cworker"))
    for lib in glob.glob(os.path.join(src_lib, "*.so*")):
        shutil.copy2(lib, os.path.join(root, "lib"))
    for folder, dirs, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@needs_root
@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_uid_switches_user_before_serving(cworker, readable_build, redis_server, tasks, pool):
    factory = CworkerFactory(os.path.join(readable_build, "bin", "cworker"), readable_build,
                             redis_server.url(0), redis_server.url(1))
    try:
        # No consent given: switching user is what makes it acceptable.
        handle = factory.start("--uid", "nobody", "--gid", "nogroup", pool=pool, concurrency=2,
                               env={"C_FORCE_ROOT": "",
                                    "LD_LIBRARY_PATH": os.path.join(readable_build, "lib")})
        assert uids_of(handle.proc.pid) == [65534] * 4  # real, effective, saved, filesystem
        assert tasks.add.delay(2, 2).get(timeout=RESULT_TIMEOUT) == 4
        if pool == "prefork":
            child = tasks.pid.delay().get(timeout=RESULT_TIMEOUT)
            assert child in handle.child_pids()
            assert uids_of(child) == [65534] * 4
    finally:
        codes = factory.close()
    assert list(codes.values()) == [0]


def test_unknown_uid_is_a_clear_error(cworker):
    proc = subprocess.run(cworker.command("--uid", "no-such-user-here"),
                          env=cworker.environment({}), capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.returncode == 1
    assert "no such user 'no-such-user-here'" in proc.stderr


def test_acl_user_database_number_and_unix_socket(redis_factory, cworker, tmp_path):
    sock = str(tmp_path / "redis.sock")
    server = redis_factory(options={"unixsocket": sock, "unixsocketperm": "700",
                                    "requirepass": "admin-secret"})
    admin = server.client(0, password="admin-secret")
    admin.execute_command("ACL", "SETUSER", "celery", "on", ">s3cret:with@chars", "~*", "&*",
                          "+@all")
    broker = f"redis://celery:s3cret%3Awith%40chars@127.0.0.1:{server.port}/3"
    backend = f"unix://celery:s3cret%3Awith%40chars@{sock}?db=5"
    app = Celery("tasks", broker=broker,
                 backend=f"redis://celery:s3cret%3Awith%40chars@127.0.0.1:{server.port}/5")
    try:
        worker = cworker.start(broker_url=broker, backend_url=backend)
        assert app.send_task("tasks.add", args=(20, 22)).get(timeout=RESULT_TIMEOUT) == 42
        # Everything went to the numbered databases, nothing to db 0.
        assert admin.dbsize() == 0
        db3 = server.client(3, password="admin-secret")
        assert db3.exists("_kombu.binding.celery")
        db3.close()
        assert worker.stop() == 0
    finally:
        close_app(app)
        admin.close()


def test_wrong_password_is_a_clear_retried_error(redis_factory, cworker):
    server = redis_factory(options={"requirepass": "right"})
    worker = cworker.start(broker_url=f"redis://:wrong@127.0.0.1:{server.port}/0",
                           backend_url=f"redis://:wrong@127.0.0.1:{server.port}/1",
                           wait_ready=False)
    match = worker.wait_for_log(r"(?i)AUTH failed: .*(WRONGPASS|invalid)", timeout=15)
    assert match
    wait_until(lambda: "Trying again" in worker.log_text(), 10)
    assert worker.is_alive()
