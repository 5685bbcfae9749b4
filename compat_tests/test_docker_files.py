"""docker/: no Docker engine runs here, so the files are checked as text, and the compose
file's deployment is run without containers: each service's environment and command, with
the same start-up script (scripts/start-worker.sh) the image's entrypoint runs, the Python
worker it describes, and its producer (docker/producer.py) against them."""

import os
import re
import shlex
import subprocess
import sys

import pytest
import yaml

from pytest_cworker.worker import CworkerHandle

pytestmark = pytest.mark.cworker_only

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKER = os.path.join(ROOT, "docker")


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def instructions(dockerfile):
    """(INSTRUCTION, arguments) per logical line (continuations joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", read(dockerfile))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def compose():
    return yaml.safe_load(read("docker/compose.yml"))


def test_dockerfile_is_multi_stage_bookworm_and_runs_as_non_root():
    steps = instructions("docker/Dockerfile")
    froms = [args for op, args in steps if op == "FROM"]
    assert len(froms) >= 2, "multi-stage: a build stage and a runtime stage"
    assert all("bookworm" in f for f in froms), froms
    runtime = [i for i, (op, _) in enumerate(steps) if op == "FROM"][-1]
    last = steps[runtime:]
    users = [args for op, args in last if op == "USER"]
    assert users and users[-1] not in ("root", "0"), users
    copies_from_build = [args for op, args in last if op == "COPY" and "--from=build" in args]
    assert any("bin/cworker" in c for c in copies_from_build)
    assert any("/lib/" in c for c in copies_from_build), "the example task library is baked in"
    entry = [args for op, args in last if op == "ENTRYPOINT"]
    assert entry and "start-worker.sh" in entry[-1]
    health = [args for op, args in last if op == "HEALTHCHECK"]
    assert health and "/healthz" in health[-1]
    # Every file a COPY takes from the build context exists in the repository.
    for dockerfile in ("docker/Dockerfile", "docker/python.Dockerfile"):
        for op, args in instructions(dockerfile):
            if op != "COPY" or "--from=" in args:
                continue
            *sources, _dest = shlex.split(args)
            for src in sources:
                assert os.path.exists(os.path.join(ROOT, src)), f"{dockerfile}: COPY {src}"
    # The build stage installs with the repository's own script, not a second package list.
    build_runs = " ".join(args for op, args in steps[:runtime] if op == "RUN")
    assert "scripts/install-deps.sh --build" in build_runs


def test_runtime_packages_cover_what_the_binaries_link():
    """Each shared library the worker needs (ldd of the build) is in the runtime stage's
    apt-get line, by its Debian package."""
    text = read("docker/Dockerfile")
    runtime_stage = text[text.rindex("FROM "):]
    for pkg in ("libhiredis0.14", "libuv1", "libcurl4", "libspdlog1.10", "libfmt9",
                "libmicrohttpd12", "libboost-context1.74.0", "zlib1g"):
        assert pkg in runtime_stage, pkg
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                                capture_output=True, text=True)
        assert "installed" in status.stdout, f"{pkg} is not a real bookworm package name here"


def test_compose_describes_the_articles_deployment():
    doc = compose()
    services = doc["services"]
    assert {"redis", "producer", "python-worker", "cworker-io", "cworker-cpu"} <= set(services)
    io, cpu = services["cworker-io"], services["cworker-cpu"]
    assert io["environment"]["CWORKER_POOL"] == "green"
    assert io["environment"]["CWORKER_CONCURRENCY"] == "100"
    assert io["environment"]["CWORKER_QUEUES"] == "io"
    assert cpu["environment"]["CWORKER_POOL"] == "prefork"
    assert cpu["environment"]["CWORKER_CONCURRENCY"] == "4"
    assert cpu["environment"]["CWORKER_QUEUES"] == "cpu"
    for svc in (io, cpu):
        assert svc["build"]["dockerfile"] == "docker/Dockerfile"
        assert os.path.isfile(os.path.join(DOCKER, svc["build"]["context"], "docker/Dockerfile"))
    # One routing table: the workers' --route flags are the producer's task_routes.
    sys.path.insert(0, DOCKER)
    sys.path.insert(0, os.path.join(ROOT, "python_fixtures"))
    try:
        import producer
    finally:
        sys.path.remove(DOCKER)
    routes = {k: v["queue"] for k, v in producer.ROUTES.items()}
    for svc in (io, cpu):
        flags = svc["command"]
        pairs = [flags[i + 1] for i, f in enumerate(flags) if f == "--route"]
        assert dict(p.split("=", 1) for p in pairs) == routes
    python_cmd = services["python-worker"]["command"]
    assert python_cmd[:3] == ["python3", "-m", "celery"] and "python" in python_cmd


def service_env(service, redis_server):
    env = dict(os.environ)
    for key, value in service["environment"].items():
        env[key] = str(value)
    env["CELERY_BROKER_URL"] = redis_server.url(0)
    env["CELERY_RESULT_BACKEND"] = redis_server.url(1)
    return env


@pytest.mark.slow
def test_the_compose_deployment_runs_without_containers(
    cworker_binary, redis_server, python_workers, tmp_path
):
    services = compose()["services"]
    handles = []
    try:
        for name in ("cworker-io", "cworker-cpu"):
            svc = services[name]
            env = service_env(svc, redis_server)
            env["CWORKER_BIN"] = cworker_binary
            env["CWORKER_PATH"] = os.path.join(os.path.dirname(cworker_binary), "..", "lib")
            cmd = [os.path.join(ROOT, "scripts", "start-worker.sh"), *svc["command"]]
            handle = CworkerHandle(name, cmd, env, str(tmp_path))
            handles.append(handle)
            handle.wait_ready(30)
        py = services["python-worker"]["command"]
        python_workers.start(queues=py[py.index("-Q") + 1], pool=py[py.index("-P") + 1],
                             concurrency=int(py[py.index("-c") + 1]))
        env = service_env(services["producer"], redis_server)
        env["PYTHONPATH"] = os.path.join(ROOT, "python_fixtures")
        run = subprocess.run(
            ["/usr/bin/python3", os.path.join(DOCKER, "producer.py"), "--io-calls", "30",
             "--wait-workers", "20"],
            env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "sum 30" in run.stdout
        assert "Python double: 42" in run.stdout
        seconds = float(re.search(r"sum 30, in ([\d.]+) s", run.stdout).group(1))
        assert seconds < 4, run.stdout  # 30 one-second calls at once on the green worker
        io_log = handles[0].log_text()
        assert "Task tasks.sleep[" in io_log and "Task tasks.cpu[" not in io_log
        assert "concurrency: 4 (prefork)" in handles[1].stdout_text()
    finally:
        for handle in handles:
            if handle.is_alive():
                assert handle.stop() == 0, handle.describe()
