"""probe.js under real Node: bounded polling of a health endpoint, and the example service booted.

The health probe stage runs the image's own command as a service and polls it from a second
container; here the service is a local process and the probe runs on the host's x64 Node.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipelines.checks import ProbeResult, parse_probe, script
from tests.components.test_smoke_apps import prepared_app
from tests.conftest import node_binary


@pytest.fixture
def probe_js(tmp_path: Path) -> Path:
    """The shipped probe script, written out as the health probe stage writes it."""
    path = tmp_path / "probe.js"
    path.write_text(script("probe.js"))
    return path


def probe(probe_js: Path, url: str, timeout_s: float) -> tuple[ProbeResult, float]:
    """Run probe.js on x64 Node; return the parsed result and the wall time it took."""
    started = time.monotonic()
    done = subprocess.run(
        [str(node_binary("x64")), str(probe_js), "--url", url, "--timeout", str(timeout_s)],
        capture_output=True, text=True, check=False, timeout=timeout_s + 30,
    )
    elapsed = time.monotonic() - started
    result = parse_probe(done.stdout, "linux/amd64", exit_code=done.returncode, stderr=done.stderr)
    assert done.returncode == (0 if result.ok else 1), done.stderr
    return result, elapsed


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server() -> Iterator[tuple[str, list[int]]]:
    """A local HTTP server answering /healthz with the statuses in the returned list, in turn."""
    statuses: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
            self.send_response(status if self.path == "/healthz" else 404)
            self.end_headers()
            self.wfile.write(b'{"status":"warming up"}' if status != 200 else b'{"status":"ok"}')

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", statuses
    httpd.shutdown()
    httpd.server_close()


def test_probe_waits_through_warm_up(probe_js: Path, server: tuple[str, list[int]]) -> None:
    """503s while the service warms up are retried until the first 2xx."""
    base, statuses = server
    statuses.extend([503, 503, 200])
    result, _ = probe(probe_js, f"{base}/healthz", 10)
    assert result.ok
    assert (result.status, result.attempts) == (200, 3)


def test_probe_gives_up_on_errors_within_the_bound(
    probe_js: Path, server: tuple[str, list[int]]
) -> None:
    """A service that keeps answering 500 fails after the timeout, with status and body."""
    base, statuses = server
    statuses.append(500)
    result, elapsed = probe(probe_js, f"{base}/healthz", 2)
    assert result.problems == (
        f'the health endpoint {base}/healthz answered 500, wanted 2xx: {{"status":"warming up"}}',
    )
    assert elapsed < 2 + 5
    assert result.attempts > 1


def test_probe_of_a_closed_port_is_bounded(probe_js: Path) -> None:
    """Nothing listening: the probe stops at its bound and names the connection error."""
    url = f"http://127.0.0.1:{free_port()}/healthz"
    result, elapsed = probe(probe_js, url, 1.5)
    assert result.problems == (
        f"the health endpoint {url} did not answer within 1.5 s (ECONNREFUSED)",
    )
    assert elapsed < 1.5 + 5


def test_tcp_probe_passes_once_the_port_accepts_connections(
    probe_js: Path, server: tuple[str, list[int]]
) -> None:
    """Without a health path the probe only needs the port to accept a connection."""
    base, statuses = server
    statuses.append(500)  # whatever it answers over HTTP: accepting connections is enough
    result, _ = probe(probe_js, base.replace("http://", "tcp://"), 5)
    assert result.ok and result.status == "connected"


def test_tcp_probe_of_a_closed_port_names_the_port(probe_js: Path) -> None:
    """Nothing listening: a bounded wait, and a sentence pointing at --port."""
    url = f"tcp://127.0.0.1:{free_port()}"
    result, elapsed = probe(probe_js, url, 1.5)
    assert not result.ok
    assert result.problems == (
        f"nothing accepted connections at {url} within 1.5 s (ECONNREFUSED): is the service "
        "listening on that port (--port)?",
    )
    assert elapsed < 1.5 + 5


def start_service(app: Path, port: int) -> subprocess.Popen[str]:
    """Start the example service's own command (`node dist/entrypoint.js`) on arm64 Node."""
    return subprocess.Popen(
        [str(node_binary("arm64")), "dist/entrypoint.js"],
        cwd=app, env={"PORT": str(port), "NODE_ENV": "production"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def stop(service: subprocess.Popen[str]) -> str:
    """Stop a service started by this test and return what it printed."""
    service.terminate()
    try:
        out, _ = service.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        service.kill()
        out, _ = service.communicate()
    return out


@pytest.mark.npm_registry
@pytest.mark.qemu
def test_example_service_is_healthy_on_arm64(probe_js: Path) -> None:
    """The example booted from its arm64 tree answers /healthz with every addon exercised."""
    port = free_port()
    service = start_service(prepared_app("arm64"), port)
    try:
        result, _ = probe(probe_js, f"http://127.0.0.1:{port}/healthz", 60)
    finally:
        output = stop(service)
    assert result.ok, output
    assert result.body is not None
    for word in ('"status":"ok"', '"verified":true', '"answer":42', '"fnv1a":'):
        assert word in result.body, result.body


@pytest.mark.npm_registry
@pytest.mark.qemu
def test_example_service_with_wrong_arch_addon_is_unhealthy(
    probe_js: Path, tmp_path: Path
) -> None:
    """An x64 better-sqlite3 binary in the arm64 image makes /healthz fail; the probe says so."""
    app = Path(shutil.copytree(prepared_app("arm64"), tmp_path / "app", symlinks=True))
    prebuild = "node_modules/better-sqlite3/prebuilds/linux-{}.node"
    shutil.copy2(prepared_app("x64") / prebuild.format("x64"), app / prebuild.format("arm64"))
    port = free_port()
    service = start_service(app, port)
    try:
        result, _ = probe(probe_js, f"http://127.0.0.1:{port}/healthz", 15)
    finally:
        stop(service)
    (problem,) = result.problems
    assert problem.startswith(f"the health endpoint http://127.0.0.1:{port}/healthz answered 500")
