"""Real servers for the object-storage tests: moto's S3-compatible server as a subprocess, and a plain HTTP file
server in a thread. Each is a context manager that leaves nothing behind (process, port or directory)."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import httpx

START_DEADLINE_SECONDS = 30.0
STOP_DEADLINE_SECONDS = 10.0
# moto accepts any key until IAM checks are switched on; these only have to look like one.
DUMMY_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
DUMMY_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
MOTO_SERVER = Path(sys.executable).with_name("moto_server")


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto S3 server on a free loopback port, its endpoint URL yielded once it answers; killed and waited for at
    the end. Its log goes to an unnamed temporary file (a pipe would fill up and stall it)."""
    port = free_port()
    command = [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)] if MOTO_SERVER.exists() else \
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            endpoint = f"http://127.0.0.1:{port}"
            _wait_until_answering(endpoint, process, log)
            yield endpoint
        finally:
            _stop(process)


def _wait_until_answering(endpoint: str, process: subprocess.Popen[bytes], log: Any) -> None:
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"moto_server exited with {process.returncode}: {log.read().decode(errors='replace')}")
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=1)
            return
        except httpx.HTTPError:
            if time.monotonic() >= deadline:
                raise RuntimeError(f"moto_server did not answer at {endpoint} within {START_DEADLINE_SECONDS}s") \
                    from None
            time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def s3_client(endpoint: str, access_key_id: str = DUMMY_ACCESS_KEY_ID,
              secret_key: str = DUMMY_SECRET_KEY) -> Any:
    """A boto3 S3 client on the test server, for setting up buckets (not the code under test's client)."""
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_key)


def create_bucket(endpoint: str, bucket: str, objects: Mapping[str, bytes] | None = None, *,
                  public: bool = True) -> None:
    """A bucket holding `objects` (key to bytes), readable by anyone unless not `public`."""
    client = s3_client(endpoint)
    client.create_bucket(Bucket=bucket)
    put_objects(endpoint, bucket, objects or {}, public=public)


def put_objects(endpoint: str, bucket: str, objects: Mapping[str, bytes], *, public: bool = True) -> None:
    """Put `objects`, several at once (a thousand one by one is slow; boto3 clients are thread-safe). Public ones
    are public-read: moto, like S3, refuses an unsigned GET of a private object."""
    client = s3_client(endpoint)
    acl = {"ACL": "public-read"} if public else {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        puts = [pool.submit(client.put_object, Bucket=bucket, Key=key, Body=body, **acl)
                for key, body in objects.items()]
        for put in puts:
            put.result()


def create_access_key(endpoint: str, user: str) -> tuple[str, str]:
    """An IAM user allowed everything, and its access key (id, secret): the one key that works once
    `require_signatures` is on."""
    iam = boto3.session.Session().client(
        "iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=DUMMY_ACCESS_KEY_ID,
        aws_secret_access_key=DUMMY_SECRET_KEY)
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="everything", PolicyDocument=(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return str(key["AccessKeyId"]), str(key["SecretAccessKey"])


@contextmanager
def require_signatures(endpoint: str) -> Iterator[None]:
    """moto checks every request's signature and IAM permissions inside the block (it checks none by default)."""
    _set_unchecked_requests(endpoint, "0")
    try:
        yield
    finally:
        _set_unchecked_requests(endpoint, "inf")


def _set_unchecked_requests(endpoint: str, count: str) -> None:
    httpx.post(f"{endpoint}/moto-api/reset-auth", content=count.encode(), timeout=5).raise_for_status()


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Tests' output is not the place for an access log."""


@contextmanager
def http_file_server(files: Mapping[str, bytes]) -> Iterator[str]:
    """A plain HTTP server (http.server, in a thread) serving `files` (relative path to bytes) from a temporary
    directory; yields its base URL. Shut down, its port closed and the directory removed at the end."""
    with tempfile.TemporaryDirectory(prefix="clickplane-files-") as directory:
        for name, body in files.items():
            path = Path(directory, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietFiles, directory=directory))
        thread = threading.Thread(target=server.serve_forever, name="http-file-server", daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


@dataclass
class DroppingServer:
    """A loopback port that accepts connections and closes them unanswered, counting them: a server that is there
    but broken, to count how often a client tries before giving up."""

    url: str
    accepted: int = 0


@contextmanager
def dropping_server() -> Iterator[DroppingServer]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)  # so the loop sees `stop` without a connection arriving
    server = DroppingServer(f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()

    def drop_each() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            server.accepted += 1
            connection.close()

    thread = threading.Thread(target=drop_each, name="dropping-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join()
        listener.close()
