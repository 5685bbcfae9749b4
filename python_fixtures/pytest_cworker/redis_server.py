"""A private, throw-away redis-server on a loopback port."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile

import redis

from .waiting import wait_until

BROKER_DB = 0
RESULT_DB = 1


def free_port():
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """One redis-server process: no persistence, bound to 127.0.0.1, its own temp dir.

    ``start()`` returns only once the server answers PING; ``stop()`` kills it and removes
    its directory. Usable as a context manager.
    """

    def __init__(self, port=None, executable=None, persistent=False, options=None):
        self.port = port or free_port()
        # persistent: an append-only file fsynced on every write, kept across restart().
        self.persistent = persistent
        self.extra_options = dict(options or {})
        self.executable = executable or shutil.which("redis-server") or "redis-server"
        self.proc = None
        self.dir = None

    def url(self, db=BROKER_DB):
        """``redis://127.0.0.1:<port>/<db>``."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db=BROKER_DB, **kwargs):
        """A new ``redis.Redis`` client for database ``db`` (short timeouts)."""
        kwargs.setdefault("socket_timeout", 10)
        kwargs.setdefault("socket_connect_timeout", 5)
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, **kwargs)

    def start(self, timeout=10):
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix=f"cw-redis-{self.port}-")
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "yes" if self.persistent else "no",
            "appendfsync": "always",
            "dir": self.dir,
            "daemonize": "no",
            "logfile": os.path.join(self.dir, "redis.log"),
        }
        options.update(self.extra_options)
        cmd = [self.executable]
        for name, value in options.items():
            cmd += [f"--{name}", value]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        try:
            wait_until(self._ping, timeout, interval=0.02, message=self._startup_failure)
        except BaseException:
            self.stop()
            raise
        return self

    def _ping(self):
        if self.proc.poll() is not None:
            raise RuntimeError(self._startup_failure())
        try:
            with self.client(socket_timeout=1, socket_connect_timeout=1) as conn:
                return conn.ping()
        except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError):
            return True  # it answers (a password is required): it is up
        except redis.exceptions.ConnectionError:
            return False

    def _startup_failure(self):
        log = os.path.join(self.dir or "", "redis.log")
        text = open(log, encoding="utf-8", errors="replace").read() if os.path.exists(log) else ""
        return f"redis-server on port {self.port} did not start:\n{text[-2000:]}"

    def flushall(self):
        with self.client() as conn:
            conn.flushall()

    def restart(self, down_for=0.0, sig=signal.SIGKILL):
        """Kill the server with ``sig`` (no chance to save: the append-only file is all that
        survives), wait ``down_for`` seconds, start it again on the same port and files."""
        import time

        self.proc.send_signal(sig)
        self.proc.wait(timeout=10)
        time.sleep(down_for)
        return self.start()

    def stop(self):
        """Kill the server (SIGKILL after 5 s of SIGTERM) and remove its directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        self.stop()
