"""Benchmark: ClickPipes moving data into a clickplane ClickHouse service, beside the same rows put straight into
that ClickHouse in one go.

    python bench/clickpipes.py [--cdc-rows 100000] [--cdc-batch 5000] [--cdc-rate 0] [--sync-interval 1]
                               [--pull-batch 100000] [--files 40] [--file-rows 5000] [--poll 0.05] [--timeout 300]

One sandbox (harness.py): `clickplane serve` with its defaults, a ClickHouse service and a Postgres service created
through the API and waited for, and a moto S3 server on loopback. Then:

- Postgres CDC. A table `bench_cdc` (id int primary key, name text, amount bigint, note text) in the Postgres
  service, empty, and a CDC pipe of it (syncIntervalSeconds `--sync-interval`, pullBatchSize `--pull-batch`) waited
  for until Running. `--cdc-rows` rows are then written by a thread in transactions of `--cdc-batch` rows (COPY),
  as fast as PostgreSQL takes them (a burst) or at `--cdc-rate` rows/s (a stream), each commit's time noted, while
  the main thread polls `count() FINAL WHERE _peerdb_is_deleted = 0` every `--poll` s. Rows/s runs from the first
  transaction's start to the poll that shows every row; a batch's lag is from its commit to the poll that shows the
  count reach it (the pipe applies whole transactions in commit order), and "behind" is that lag for the last
  batch: how far the destination trails the source at the end. Baseline: the same rows exported from PostgreSQL
  with `COPY ... TO STDOUT (FORMAT csv)` and sent to ClickHouse in one `INSERT ... FORMAT CSV` over HTTP, into a
  MergeTree of the same columns: its rows/s over export plus insert (and over the insert alone).
- Object storage. `--files` CSV files of `--file-rows` rows each in a moto bucket; a one-shot pipe over them, timed
  from its POST to the poll of the API that shows it Completed (that includes waiting for a reconciler pass, 2 s
  apart by default, before the worker starts; "first row→last" leaves that out: from the first poll that sees a
  row in the table to the one that sees them all). Baseline: each file fetched from moto (GET) and inserted with
  `INSERT ... FORMAT CSV`, one request per file, one after another, into a table of the same layout.

Nothing is asserted beyond the row counts; every server and the temp dir are removed at the end, also on errors and
Ctrl-C. Figures on the 2-core dev box move with its other work: read the two sides of the same run.
"""

from __future__ import annotations

import argparse
import io
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import httpx
import psycopg

from harness import (
    BenchError,
    Clickplane,
    Sandbox,
    Timeout,
    free_port,
    log,
    processes_mentioning,
    run_to_completion,
    tail,
    wait_until,
)

LISTEN_HOST = "127.0.0.1"
POSTGRES_SIZE = "r6gd.medium"
BUCKET = "bench"
# moto accepts any key until IAM checks are switched on; these only have to look like one.
ACCESS_KEY_ID, SECRET_KEY = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
MOTO_SERVER = Path(sys.executable).with_name("moto_server")
SERVICE_TIMEOUT = 180.0


# --- the sandbox's servers -----------------------------------------------------------------------------------

@dataclass
class ClickHouse:
    port: int
    password: str

    def query(self, sql: str, body: bytes | None = None, timeout: float = 300) -> str:
        response = httpx.post(f"http://{LISTEN_HOST}:{self.port}/", params={"query": sql}, content=body,
                              auth=("default", self.password), timeout=timeout, trust_env=False)
        if response.status_code != 200:
            raise BenchError(f"ClickHouse answered {response.status_code} to {sql[:100]!r}: {response.text[:500]}")
        return response.text.strip()

    def count(self, table: str, final: bool = False) -> int:
        suffix = " FINAL WHERE _peerdb_is_deleted = 0" if final else ""
        # `table` is one of this file's constants, not input.
        return int(self.query(f"SELECT count() FROM default.{table}{suffix}") or 0)  # noqa: S608

    def exists(self, table: str) -> bool:
        return self.query(f"EXISTS TABLE default.{table}") == "1"


@dataclass
class Postgres:
    host: str
    port: int
    password: str
    ca: Path

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(host=self.host, port=self.port, user="postgres", password=self.password,
                               dbname="postgres", sslmode="verify-full", sslrootcert=str(self.ca),
                               connect_timeout=10, autocommit=True)


@dataclass
class World:
    clickplane: Clickplane
    service_id: str
    clickhouse: ClickHouse
    postgres: Postgres
    s3: str

    def pipes_path(self, suffix: str = "") -> str:
        return f"/v1/organizations/{self.clickplane.organization_id}/services/{self.service_id}/clickpipes{suffix}"

    def pipe(self, pipe_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.clickplane.api.json("GET", self.pipes_path(f"/{pipe_id}"))
        if found["state"] == "Failed":
            raise BenchError(f"pipe {pipe_id} failed: {found.get('stateReason') or found}")
        return found

    def wait_for_pipe(self, pipe_id: str, state: str, timeout: float) -> float:
        """Polls the pipe until it is in `state`; the perf_counter of that poll."""
        return wait_until(lambda: time.perf_counter() if self.pipe(pipe_id)["state"] == state else None,
                          f"pipe {pipe_id} to be {state}", timeout)


def wait_for_state(clickplane: Clickplane, path: str, state: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        clickplane.serve.check_alive()
        found: dict[str, Any] = clickplane.api.json("GET", path)
        if found["state"] in ("failed", "unavailable"):
            raise BenchError(f"{path} is {found['state']}")
        return found if found["state"] == state else None

    return wait_until(reached, f"{path} to be {state}", SERVICE_TIMEOUT)


def start_moto(sandbox: Sandbox) -> str:
    port = free_port()
    argv = [str(MOTO_SERVER), "-H", LISTEN_HOST, "-p", str(port)] if MOTO_SERVER.exists() else \
        [sys.executable, "-m", "moto.server", "-H", LISTEN_HOST, "-p", str(port)]
    moto = sandbox.start_child("moto server", argv)
    endpoint = f"http://{LISTEN_HOST}:{port}"

    def answers() -> bool | None:
        moto.check_alive()
        return True if httpx.get(f"{endpoint}/moto-api/", timeout=2, trust_env=False).status_code == 200 else None

    wait_until(answers, f"moto on port {port}", 30)
    log(f"moto S3 server: {endpoint}")
    return endpoint


def set_up(sandbox: Sandbox) -> World:
    clickplane = sandbox.start_clickplane()
    api, org = clickplane.api, f"/v1/organizations/{clickplane.organization_id}"
    log("creating a ClickHouse service and a Postgres service")
    made = api.json("POST", f"{org}/services", {"name": "bench pipes", "provider": "aws", "region": "us-east-1",
                                                "ipAccessList": [{"source": LISTEN_HOST}]})
    source = api.json("POST", f"{org}/postgres", {
        "name": "bench source", "provider": "aws", "region": "us-east-1", "size": POSTGRES_SIZE,
        "ipAccessList": [{"source": LISTEN_HOST, "portRange": "5432"}]})
    service_id = made["service"]["id"]
    service = wait_for_state(clickplane, f"{org}/services/{service_id}", "running")
    http = next(e["port"] for e in service["endpoints"] if e["protocol"] == "http")
    postgres = wait_for_state(clickplane, f"{org}/postgres/{source['id']}", "running")
    status, pem = api.request("GET", f"{org}/postgres/{source['id']}/caCertificates")
    if status != 200:
        raise BenchError(f"the Postgres service's CA: {status} {pem[:200]!r}")
    ca = sandbox.data_dir / "bench-postgres-ca.pem"
    ca.write_bytes(pem)
    port = int(source["connectionString"].split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    return World(clickplane, service_id, ClickHouse(http, made["password"]),
                 Postgres(postgres["hostname"], port, source["password"], ca), start_moto(sandbox))


# --- Postgres CDC --------------------------------------------------------------------------------------------

CDC_TABLE = "bench_cdc"
CDC_COLUMNS = "id Int32, name String, amount Int64, note String"


@dataclass
class CdcResult:
    rows: int
    batches: int
    seconds: float  # first transaction's start to all rows visible
    write_seconds: float  # first transaction's start to the last commit
    lags: list[float]  # per batch: commit to visible
    baseline_export: float = 0.0
    baseline_insert: float = 0.0


def cdc_row(n: int) -> str:
    return f"{n}\tname {n}\t{n * 7919 % 1_000_003}\tnote of row {n}: {'x' * (n % 40)}\n"


class CdcWriter(threading.Thread):
    """COPYs the rows in, `batch` per transaction, noting each commit's perf_counter."""

    def __init__(self, postgres: Postgres, rows: int, batch: int, rate: float) -> None:
        super().__init__(name="cdc-writer", daemon=True)
        self.postgres, self.rows, self.batch, self.rate = postgres, rows, batch, rate
        self.started = 0.0
        self.commits: list[float] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.postgres.connect() as connection:
                self.started = time.perf_counter()
                for first in range(1, self.rows + 1, self.batch):
                    with connection.transaction(), connection.cursor() as cursor, \
                            cursor.copy(f"COPY {CDC_TABLE} (id, name, amount, note) FROM STDIN") as copy:
                        copy.write("".join(cdc_row(n) for n in range(first, min(first + self.batch, self.rows + 1))))
                    self.commits.append(time.perf_counter())
                    if self.rate:  # the next batch when the rate says, not before
                        written = min(first + self.batch - 1, self.rows)
                        time.sleep(max(0.0, self.started + written / self.rate - time.perf_counter()))
        except BaseException as error:  # reported by the main thread
            self.error = error


def measure_cdc(world: World, args: argparse.Namespace) -> CdcResult:
    with world.postgres.connect() as connection:
        connection.execute(f"CREATE TABLE {CDC_TABLE} (id int PRIMARY KEY, name text NOT NULL, "
                           "amount bigint NOT NULL, note text NOT NULL)")
    postgres = world.postgres
    body = {"name": "bench cdc", "destination": {"database": "default"}, "source": {"postgres": {
        "host": postgres.host, "port": postgres.port, "database": "postgres", "authentication": "basic",
        "credentials": {"username": "postgres", "password": postgres.password},
        "caCertificate": postgres.ca.read_text(), "disableTls": False, "skipCertVerification": False,
        "settings": {"replicationMode": "cdc", "syncIntervalSeconds": args.sync_interval,
                     "pullBatchSize": args.pull_batch},
        "tableMappings": [{"sourceSchemaName": "public", "sourceTable": CDC_TABLE, "targetTable": CDC_TABLE,
                           "tableEngine": "ReplacingMergeTree"}]}}}
    pipe_id = world.clickplane.api.json("POST", world.pipes_path(), body)["id"]
    world.wait_for_pipe(pipe_id, "Running", args.timeout)
    wait_until(lambda: True if world.clickhouse.exists(CDC_TABLE) else None, "the pipe's table", args.timeout)
    log(f"CDC: pipe running; writing {args.cdc_rows} rows in transactions of {args.cdc_batch}")

    writer = CdcWriter(world.postgres, args.cdc_rows, args.cdc_batch, args.cdc_rate)
    writer.start()
    batches = -(-args.cdc_rows // args.cdc_batch)
    visible: list[float] = []  # when the count first reached each batch's end
    deadline = time.monotonic() + args.timeout
    while len(visible) < batches:
        if writer.error is not None:
            raise BenchError(f"the CDC writer failed: {writer.error!r}")
        if time.monotonic() > deadline:
            raise Timeout(f"CDC: {len(visible)} of {batches} batches visible after {args.timeout:g} s; "
                          f"{world.pipe(pipe_id)}")
        count = world.clickhouse.count(CDC_TABLE, final=True)
        now = time.perf_counter()
        while len(visible) < batches and count >= min((len(visible) + 1) * args.cdc_batch, args.cdc_rows):
            visible.append(now)
        time.sleep(args.poll)
    writer.join()
    lags = [seen - committed for seen, committed in zip(visible, writer.commits, strict=True)]
    result = CdcResult(args.cdc_rows, batches, visible[-1] - writer.started, writer.commits[-1] - writer.started,
                       lags)
    world.clickplane.api.request("DELETE", world.pipes_path(f"/{pipe_id}"))

    log("CDC baseline: COPY TO STDOUT (FORMAT csv), then one INSERT ... FORMAT CSV")
    world.clickhouse.query(f"CREATE TABLE default.{CDC_TABLE}_baseline ({CDC_COLUMNS}) ENGINE = MergeTree "
                           "ORDER BY id")
    started = time.perf_counter()
    exported = io.BytesIO()
    with world.postgres.connect() as connection, connection.cursor() as cursor, \
            cursor.copy(f"COPY {CDC_TABLE} (id, name, amount, note) TO STDOUT (FORMAT csv)") as copy:
        for chunk in copy:
            exported.write(chunk)
    result.baseline_export = time.perf_counter() - started
    started = time.perf_counter()
    world.clickhouse.query(f"INSERT INTO default.{CDC_TABLE}_baseline FORMAT CSV", exported.getvalue())
    result.baseline_insert = time.perf_counter() - started
    if (count := world.clickhouse.count(f"{CDC_TABLE}_baseline")) != args.cdc_rows:
        raise BenchError(f"CDC baseline: {count} rows inserted, not {args.cdc_rows}")
    return result


# --- object storage ------------------------------------------------------------------------------------------

OBJECT_COLUMNS = [{"name": "id", "type": "UInt32"}, {"name": "label", "type": "String"},
                  {"name": "value", "type": "Float64"}]


@dataclass
class ObjectResult:
    files: int
    rows: int
    bytes: int
    seconds: float = 0.0  # POST to Completed
    flowing: float = 0.0  # first row seen to all rows seen
    baseline: float = 0.0
    keys: list[str] = field(default_factory=list)


def object_file(number: int, rows: int) -> bytes:
    first = number * rows + 1
    return "".join(f"{n},label {n} of file {number},{n / 7:.6f}\n" for n in range(first, first + rows)).encode()


def upload(endpoint: str, files: int, rows: int) -> ObjectResult:
    client = boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="us-east-1",
                                            aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_KEY)
    client.create_bucket(Bucket=BUCKET)
    result = ObjectResult(files, files * rows, 0)
    for number in range(files):
        key, body = f"data/{number:05d}.csv", object_file(number, rows)
        client.put_object(Bucket=BUCKET, Key=key, Body=body, ACL="public-read")
        result.keys.append(key)
        result.bytes += len(body)
    return result


def measure_objects(world: World, args: argparse.Namespace) -> ObjectResult:
    log(f"object storage: uploading {args.files} files of {args.file_rows} rows to moto")
    result = upload(world.s3, args.files, args.file_rows)
    body = {"name": "bench objects", "source": {"objectStorage": {
        "type": "s3", "url": f"{world.s3}/{BUCKET}/data/*.csv", "format": "CSV", "compression": "auto",
        "isContinuous": False, "authentication": "IAM_USER",
        "accessKey": {"accessKeyId": ACCESS_KEY_ID, "secretKey": SECRET_KEY}}},
        "destination": {"database": "default", "table": "bench_objects", "managedTable": True,
                        "columns": OBJECT_COLUMNS, "tableDefinition": {"engine": {"type": "MergeTree"},
                                                                       "sortingKey": ["id"]}}}
    log("object storage: a one-shot pipe, until Completed")
    started = time.perf_counter()
    pipe_id = world.clickplane.api.json("POST", world.pipes_path(), body)["id"]
    first_row: float | None = None
    last_row: float | None = None
    deadline = time.monotonic() + args.timeout
    while True:
        if time.monotonic() > deadline:
            raise Timeout(f"object storage: not Completed after {args.timeout:g} s; {world.pipe(pipe_id)}")
        state = world.pipe(pipe_id)["state"]
        now = time.perf_counter()
        count = world.clickhouse.count("bench_objects") if world.clickhouse.exists("bench_objects") else 0
        if count and first_row is None:
            first_row = now
        if count == result.rows and last_row is None:
            last_row = now
        if state == "Completed":
            break
        time.sleep(args.poll)
    result.seconds = now - started
    if (count := world.clickhouse.count("bench_objects")) != result.rows:
        raise BenchError(f"object storage: the pipe completed with {count} rows, not {result.rows}")
    result.flowing = (last_row or now) - (first_row or started)

    log("object storage baseline: GET each file, INSERT ... FORMAT CSV")
    columns = ", ".join(f"{c['name']} {c['type']}" for c in OBJECT_COLUMNS)
    world.clickhouse.query(f"CREATE TABLE default.bench_objects_baseline ({columns}) ENGINE = MergeTree ORDER BY id")
    with httpx.Client(trust_env=False, timeout=60) as client:
        started = time.perf_counter()
        for key in result.keys:
            response = client.get(f"{world.s3}/{BUCKET}/{key}")
            response.raise_for_status()
            world.clickhouse.query("INSERT INTO default.bench_objects_baseline FORMAT CSV", response.content)
        result.baseline = time.perf_counter() - started
    if (count := world.clickhouse.count("bench_objects_baseline")) != result.rows:
        raise BenchError(f"object storage baseline: {count} rows, not {result.rows}")
    return result


# --- report --------------------------------------------------------------------------------------------------

def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def report(results: tuple[CdcResult, ObjectResult], args: argparse.Namespace) -> None:
    cdc, objects = results
    rate = f"at {args.cdc_rate:g} rows/s" if args.cdc_rate else "as fast as the source takes them"
    print(f"\nPostgres CDC: {cdc.rows} rows in {cdc.batches} transactions of {args.cdc_batch} (COPY), {rate}, "
          f"syncIntervalSeconds {args.sync_interval:g}, pullBatchSize {args.pull_batch}")
    print(f"{'':46} {'seconds':>8} {'rows/s':>9} {'behind s':>9} {'lag p50':>8} {'lag max':>8}")
    print(f"{'clickplane CDC pipe (1st write→all seen)':46} {cdc.seconds:8.2f} {cdc.rows / cdc.seconds:9.0f} "
          f"{cdc.lags[-1]:9.2f} {median(cdc.lags):8.2f} {max(cdc.lags):8.2f}")
    print(f"{'  (source writes alone: 1st write→last commit)':46} {cdc.write_seconds:8.2f} "
          f"{cdc.rows / cdc.write_seconds:9.0f}")
    total = cdc.baseline_export + cdc.baseline_insert
    print(f"{'baseline COPY TO csv + 1 INSERT FORMAT CSV':46} {total:8.2f} {cdc.rows / total:9.0f}")
    print(f"{'  (the INSERT alone)':46} {cdc.baseline_insert:8.2f} {cdc.rows / cdc.baseline_insert:9.0f}")
    print(f"pipe / baseline: {cdc.seconds / total:.1f}x the time")

    megabytes = objects.bytes / 1e6
    print(f"\nObject storage: {objects.files} CSV files x {args.file_rows} rows ({objects.rows} rows, "
          f"{megabytes:.1f} MB) in moto, one-shot pipe")
    print(f"{'':46} {'seconds':>8} {'rows/s':>9} {'MB/s':>7}")
    for label, seconds in (("clickplane pipe (POST→Completed)", objects.seconds),
                           ("  (first row seen→all rows seen)", objects.flowing),
                           ("baseline GET + INSERT FORMAT CSV per file", objects.baseline)):
        print(f"{label:46} {seconds:8.2f} {objects.rows / seconds:9.0f} {megabytes / seconds:7.2f}")
    print(f"pipe / baseline: {objects.seconds / objects.baseline:.1f}x the time "
          f"({objects.flowing / objects.baseline:.1f}x from the first row)")


# --- main ----------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cdc-rows", type=int, default=100_000, help="rows written to the CDC source")
    parser.add_argument("--cdc-batch", type=int, default=5_000, help="rows per source transaction")
    parser.add_argument("--cdc-rate", type=float, default=0,
                        help="rows per second the source is written at (0: as fast as it takes them)")
    parser.add_argument("--sync-interval", type=int, default=1, help="the pipe's syncIntervalSeconds")
    parser.add_argument("--pull-batch", type=int, default=100_000, help="the pipe's pullBatchSize")
    parser.add_argument("--files", type=int, default=40, help="files in the bucket")
    parser.add_argument("--file-rows", type=int, default=5_000, help="rows per file")
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between polls of ClickHouse / the API")
    parser.add_argument("--timeout", type=float, default=300, help="seconds each pipe may take")
    args = parser.parse_args(argv)
    if min(args.cdc_rows, args.cdc_batch, args.sync_interval, args.pull_batch, args.files, args.file_rows) < 1 \
            or args.poll <= 0:
        parser.error("sizes must be at least 1 and --poll above 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sandbox = Sandbox("clickplane-bench-clickpipes-")

    def work() -> tuple[CdcResult, ObjectResult]:
        try:
            world = set_up(sandbox)
            return measure_cdc(world, args), measure_objects(world, args)
        except BenchError:
            log(f"end of the clickplane serve log:\n{tail(sandbox.data_dir / 'clickplane-serve.log')}")
            raise

    def cleanup() -> None:
        sandbox.cleanup()
        left = processes_mentioning(str(sandbox.data_dir))
        for pid, command in left:
            log(f"warning: still running after cleanup: pid {pid}: {command[:200]}")
        if not left:
            log("no process left from the run's temp dir")

    return run_to_completion(work, cleanup, lambda results: report(results, args))


if __name__ == "__main__":
    sys.exit(main())
