"""Fixtures that run the built `tideway` binary as a real server for the end-to-end tests."""

import os
import signal
import subprocess
import tempfile

import pytest

BINARY = os.environ.get("TIDEWAY_BIN", "target/debug/tideway")


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def binary():
    path = os.path.abspath(BINARY)
    assert os.path.exists(path), f"build the binary first ({path} is missing)"
    return path


@pytest.fixture
def data_dir():
    with tempfile.TemporaryDirectory(prefix="tideway-e2e-") as path:
        yield path


def _serve(binary, data_dir, *toolkits, bind="127.0.0.1:0", extra=(), serve_args=()):
    """Starts `tideway serve` on a loopback port (free unless given) with the given toolkits;
    `extra` goes before `serve` (such as `--config`), `serve_args` after it."""
    args = [binary, *extra, "serve", "--bind", bind, "--data-dir", data_dir, *serve_args]
    for toolkit in toolkits:
        args += ["--toolkit", toolkit]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert "listening on http://" in line, f"unexpected start-up output: {line!r} {process.stderr.read() if process.poll() is not None else ''}"
    return process, line.strip().rsplit(" ", 1)[-1]


def _stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, f"tideway serve exited with {code} on SIGTERM: {process.stderr.read()[-2000:]}"


@pytest.fixture
def server(binary, data_dir):
    """`tideway serve` with the system and conformance toolkits; yields its base URL, then stops it with SIGTERM."""
    process, base = _serve(binary, data_dir, "system", "conformance")
    yield base
    _stop(process)


@pytest.fixture
def support_server(binary, data_dir):
    """`tideway serve` with the support toolkit only."""
    process, base = _serve(binary, data_dir, "support")
    yield base
    _stop(process)
