#!/usr/bin/python3
"""A slow HTTP API for tests and benchmarks: the article's "API that answers after 2 s".

Every request (any path; GET, POST or anything else) is answered after ``--delay`` seconds
(``?delay=`` overrides it per request) with ``200``, ``Content-Type: application/json`` and
``{"number": n}``: ``n`` is ``?number=`` when given, else a counter from 1. A request with a
body also gets ``"received": <body length>``.

HTTP/1.1 keep-alive (the default; ``Connection: close`` and HTTP/1.0 without ``keep-alive``
close after the answer), ``Content-Length`` always set. One asyncio task per connection, stdlib
only: 10,000 concurrent connections cost one process (the fd soft limit is raised to the hard
limit; listen backlog 16384, capped by the kernel's ``net.core.somaxconn``).

When listening it prints exactly one line to stdout:

    number_api listening on http://127.0.0.1:<port>

Usage: number_api.py [--delay 2.0] [--host 127.0.0.1] [--port 0] [--port-file PATH]
SIGTERM / SIGINT: exit 0.
"""

import argparse
import asyncio
import itertools
import json
import resource
import signal
from urllib.parse import parse_qs, urlsplit

COUNTER = itertools.count(1)
MAX_HEAD = 64 * 1024  # bytes of request line + headers; more closes the connection


async def read_request(reader):
    """(method, target, version, headers, body), or None at a clean end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if e.partial:
            raise
        return None  # the client closed between requests
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return method, target, version, headers, body


async def handle(reader, writer, default_delay):
    """Serve one connection: requests in order (keep-alive) until the client closes."""
    try:
        while (request := await read_request(reader)) is not None:
            method, target, version, headers, body = request
            query = parse_qs(urlsplit(target).query)
            delay = float(query.get("delay", [default_delay])[0])
            number = int(query["number"][0]) if "number" in query else next(COUNTER)
            await asyncio.sleep(delay)

            payload = {"number": number}
            if method == "POST" or body:
                payload["received"] = len(body)
            data = json.dumps(payload).encode()
            connection = headers.get("connection", "").lower()
            close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + b"Content-Length: %d\r\n" % len(data)
                + (b"Connection: close\r\n" if close else b"Connection: keep-alive\r\n")
                + b"\r\n"
                + data
            )
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        pass  # the client went away mid-request, or sent something that is not HTTP
    finally:
        writer.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delay", type=float, default=2.0, help="seconds before each answer")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--port-file", help="also write the URL to this file")
    args = parser.parse_args()

    # Each connection is a file descriptor: allow as many as the hard limit does.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    server = await asyncio.start_server(
        lambda r, w: handle(r, w, args.delay), args.host, args.port,
        backlog=16384, limit=MAX_HEAD, reuse_address=True,
    )
    port = server.sockets[0].getsockname()[1]
    url = f"http://{args.host}:{port}"
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(url + "\n")
    print(f"number_api listening on {url}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()  # stop listening; asyncio.run cancels the open connections' tasks


if __name__ == "__main__":
    asyncio.run(main())
