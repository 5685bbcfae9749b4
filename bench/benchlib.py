"""What the benchmarks share: the processes they start (stopped at exit), waits, and what
/proc says about a worker's process tree."""

import datetime
import os
import pathlib
import platform
import signal
import socket
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "python_fixtures"
PYTHON = "/usr/bin/python3"
CLK_TCK = os.sysconf("SC_CLK_TCK")
STARTED = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, log, **kwargs):
    # Benchmarks may run as root (CI machines): consent as Celery's C_FORCE_ROOT does.
    env = dict(kwargs.pop("env", None) or os.environ)
    env.setdefault("C_FORCE_ROOT", "1")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, **kwargs)
    STARTED.append(proc)
    return proc


def stop(proc, timeout=10):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(what)


def tree(pid):
    """pid and all its descendants."""
    pids, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            children = pathlib.Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            pids.append(child)
            frontier.append(child)
    return pids


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / CLK_TCK


def peak_rss_mb(pids):
    total = 0
    for pid in pids:
        try:
            for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def machine():
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                  if l.startswith("model name")), platform.processor())
    versions = subprocess.run(
        [PYTHON, "-c", "import celery, kombu, gevent; "
                       "print(celery.__version__, kombu.__version__, gevent.__version__)"],
        capture_output=True, text=True).stdout.split() or ["?", "?", "?"]
    return (f"{os.cpu_count()} CPUs ({model}), Celery {versions[0]}, kombu {versions[1]}, "
            f"gevent {versions[2]}, {datetime.date.today().isoformat()}")


def start_redis(tmp):
    """A private redis-server on a free loopback port, no persistence; returns the port."""
    port = free_port()
    start(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--dir", str(tmp)], subprocess.DEVNULL)
    wait_for(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"],
                                    capture_output=True).returncode == 0, 10, "redis")
    return port


def cleanup(*_):
    for proc in reversed(STARTED):
        try:
            stop(proc, timeout=5)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
