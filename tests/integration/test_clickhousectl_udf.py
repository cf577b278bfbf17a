"""The official clickhousectl CLI drives UDFs against clickplane: every `cloud udf` subcommand, each with its exit
code, each effect checked through the API. The CLI uploads archives only to an https URL whose certificate it
trusts: it is given clickplane's CA with SSL_CERT_FILE, as a user of a self-hosted clickplane would.

Covered, each with its exit code: `list` (empty, then two functions, and a page with --limit), `create NAME` (from
clickhouse/udfs/NAME/ with its udf.json; refused by clickplane's build for a main.py that does not compile, and by
the CLI itself for a directory without main.py and a udf.json naming another function), `create --file
--artifact`, `get`, `version create`, `version list` (and a page), `version delete` (an older version; the latest
refused), `attach` (refused, UDF_DISABLED, while executable functions are not enabled; on a stopped service, with
--wake, refused without waking), `attachment list`, `attachment get` and `detach` (nothing attached: refused),
`deploy` (the new version is built, then the attach is refused), `delete`; and, executable functions enabled,
`attach` on an idle service, which only `--wake` wakes, and which ClickHouse 18.16 then refuses with the reason.
Each command's exit code is printed in a table at the end (`pytest -s`)."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, delete_services
from tests.integration.test_clickhousectl_lifecycle import LifecycleCli, running_cli
from tests.integration.test_cloud_clients import CLICKHOUSECTL
from tests.integration.test_udfs_api import ENABLED, UPPER

pytestmark = [pytest.mark.integration, needs_clickhouse,
              pytest.mark.skipif(CLICKHOUSECTL is None, reason="clickhousectl is not installed "
                                 "(pip install clickhousectl)")]

DEFINITION = {"runtime": "python3.11", "type": "executable", "arguments": [{"name": "x", "type": "String"}],
              "returnType": "String"}


class UdfCli(LifecycleCli):
    """LifecycleCli for `cloud udf`, trusting clickplane's CA, recording every command's exit code."""

    def __init__(self, server: ClickplaneServer, workdir: Path) -> None:
        super().__init__(server, workdir)
        self.env["SSL_CERT_FILE"] = str(server.data_dir / "ca" / "ca.pem")
        self.codes: list[tuple[str, int]] = []

    def udf(self, *args: str, code: int = 0) -> str:
        """Run `udf ARGS`, which must exit with `code`; what it printed (stdout, then stderr)."""
        done: subprocess.CompletedProcess[str] = self.attempt("udf", *args, timeout=120)
        self.codes.append((" ".join(("udf", *args)), done.returncode))
        assert done.returncode == code, f"udf {' '.join(args)}: rc {done.returncode}: {done.stdout}{done.stderr}"
        return done.stdout + done.stderr

    def udf_json(self, *args: str) -> Any:
        return json.loads(self.udf(*args, "--json"))

    def function_dir(self, name: str, files: dict[str, bytes], definition: dict[str, Any] | None = None) -> None:
        """clickhouse/udfs/NAME/, as `udf create NAME` reads it: udf.json and the function's files."""
        directory = self.workdir / "clickhouse" / "udfs" / name
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "udf.json").write_text(json.dumps(definition or {**DEFINITION, "functionName": name}))
        for file_name, content in files.items():
            (directory / file_name).write_bytes(content)

    def clean_up(self) -> None:
        with self.server.client() as client:
            for udf in client.get(self.server.org_path("/udfs")).json()["result"]:
                client.delete(self.server.org_path(f"/udfs/{udf['functionName']}"))
        super().clean_up()


@pytest.fixture(scope="module")
def services(server: ClickplaneServer) -> Iterator[tuple[dict[str, Any], str]]:
    """A running service and a stopped one."""
    running = server.create_service(name="udf-cli")["service"]["id"]
    stopped = server.create_service(name="udf-cli-stopped")["service"]["id"]
    try:
        service = server.wait_for_state(running, "running")
        server.wait_for_state(stopped, "running")
        with server.client() as client:
            assert client.patch(server.org_path(f"/services/{stopped}/state"), json={"command": "stop"}).is_success
        server.wait_for_state(stopped, "stopped")
        yield service, stopped
    finally:
        delete_services(server)


@pytest.fixture
def cli(server: ClickplaneServer) -> Iterator[UdfCli]:
    yield from running_cli(UdfCli, server, "clickhousectl-udf-")


def test_every_udf_subcommand(cli: UdfCli, services: tuple[dict[str, Any], str]) -> None:
    service, stopped = services
    service_id, version = service["id"], service["clickhouseVersion"]
    if int(version.split(".")[0]) > 21:  # test_udfs_api installs on such a ClickHouse
        pytest.skip(f"this test follows a ClickHouse without executable functions; the service runs {version}")
    assert "No UDFs found" in cli.udf("list")

    cli.function_dir("shout", {"main.py": UPPER})
    created = cli.udf("create", "shout")
    assert "version: 1" in created
    assert "status: ready" in created
    cli.function_dir("broken", {"readme.txt": b"no code"})
    assert "missing main.py" in cli.udf("create", "broken", code=1)  # the CLI's own check, before any request
    cli.function_dir("broken", {"main.py": b"def broken(:\n"})
    assert "does not compile as Python" in cli.udf("create", "broken", code=1)  # clickplane's build
    cli.function_dir("misnamed", {"main.py": UPPER}, {**DEFINITION, "functionName": "other"})
    cli.udf("create", "misnamed", code=2)  # the CLI's own check: udf.json names another function
    (cli.workdir / "loud.json").write_text(json.dumps({**DEFINITION, "functionName": "loud"}))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("main.py", UPPER)
    (cli.workdir / "loud.zip").write_bytes(archive.getvalue())
    assert cli.udf_json("create", "--file", "loud.json", "--artifact", "loud.zip")["functionName"] == "loud"

    got = cli.udf_json("get", "shout")
    assert (got["functionName"], got["version"], got["status"], got["runtime"]) == ("shout", 1, "ready",
                                                                                    "python3.11")
    assert [u["functionName"] for u in cli.udf_json("list")["result"]] == ["loud", "shout"]
    assert "next cursor: loud" in cli.udf("list", "--limit", "1")

    assert cli.udf_json("version", "create", "shout")["version"] == 2
    assert [v["version"] for v in cli.udf_json("version", "list", "shout")["result"]] == [1, 2]
    assert "2 total records" in cli.udf("version", "list", "shout", "--limit", "1")

    refusal = cli.udf("attach", "shout", service_id, code=1)
    assert "UDF_DISABLED" in refusal  # the session's clickplane leaves executable functions off, as by default
    assert "CLICKPLANE_UDF_EXECUTION_ENABLED" in refusal
    assert "UDF_DISABLED" in cli.udf("attach", "shout", stopped, "--wake", code=1)
    assert server_state(cli, stopped) == "stopped"  # not woken: canWake is false
    assert cli.udf_json("attachment", "list", "shout") == {"result": []}
    assert "not attached" in cli.udf("attachment", "get", "shout", service_id, code=1)
    assert "not attached" in cli.udf("detach", "shout", service_id, code=1)

    deployed = cli.udf("deploy", "shout", "--service", service_id, "--timeout", "60", code=1)
    assert "version 3 is built" in deployed, deployed  # the new version is made; the attach is what fails
    assert [v["version"] for v in cli.udf_json("version", "list", "shout")["result"]] == [1, 2, 3]

    cli.udf("version", "delete", "shout", "1")
    assert "latest" in cli.udf("version", "delete", "shout", "3", code=1)
    cli.udf("delete", "shout")
    cli.udf("delete", "loud")
    assert "No UDFs found" in cli.udf("list")
    print("\nclickhousectl udf subcommands and their exit codes:")
    for command, code in cli.codes:
        print(f"  {code}  {command}")


def server_state(cli: UdfCli, service_id: str) -> str:
    return str(cli.server.service(service_id)["state"])


def test_attach_wakes_an_idle_service_only_when_asked(fresh_server: ClickplaneServer) -> None:
    """An idle service's 424 is SERVICE_IDLE with canWake: `udf attach` says so; `udf attach --wake` wakes it
    (PATCH .../state awake, then polls it until running) and attaches again, which on 18.16 is refused for the
    engine's reason."""
    fresh_server.settings["CLICKPLANE_IDLE_MINUTE_SECONDS"] = "2"  # 5 "minutes" pass in 10 seconds
    fresh_server.settings.update(ENABLED)
    fresh_server.start()
    created = fresh_server.create_service(name="udf-sleepy", idleScaling=True, idleTimeoutMinutes=5)
    service_id = created["service"]["id"]
    version = fresh_server.wait_for_state(service_id, "running")["clickhouseVersion"]
    if int(version.split(".")[0]) > 21:
        pytest.skip(f"this test follows a ClickHouse without executable functions; the service runs {version}")
    with contextlib.contextmanager(running_cli)(UdfCli, fresh_server, "clickhousectl-udf-idle-") as cli:
        cli.function_dir("shout", {"main.py": UPPER})
        cli.udf("create", "shout")
        fresh_server.wait_for_state(service_id, "idle")
        asked = cli.udf("attach", "shout", service_id, code=1)
        assert "SERVICE_IDLE" in asked
        assert fresh_server.service(service_id)["state"] == "idle"  # not woken without --wake
        woken = cli.udf("attach", "shout", service_id, "--wake", code=1)
        assert "UDF_UNSUPPORTED" in woken, woken  # woken, then refused for the engine
        assert fresh_server.service(service_id)["state"] == "running"
        print("\nclickhousectl udf attach on an idle service:")
        for command, code in cli.codes[-2:]:
            print(f"  {code}  {command}")
