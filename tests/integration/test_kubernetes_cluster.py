"""The kubernetes runtime against a real cluster with the Altinity operator installed: runs only when
CLICKPLANE_TEST_KUBECONFIG names a kubeconfig, and is skipped, saying so, otherwise.

CLICKPLANE_TEST_KUBERNETES_NAMESPACE (default clickplane-test) must exist; the test makes its service there and
deletes it. Where the test runs inside the cluster (so that the services' cluster DNS names resolve), set
CLICKPLANE_TEST_KUBERNETES_IN_CLUSTER=1 and it also waits for ClickHouse to answer and runs SQL on it; elsewhere it
checks what the operator reports.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from pathlib import Path

import httpx
import pytest

from clickplane.runtime.clickhouse.interface import ServiceSpec
from clickplane.runtime.kubernetes.client import KubernetesApi, client_factory
from clickplane.runtime.kubernetes.manifests import ClusterOptions, label_selector
from clickplane.runtime.kubernetes.runtime import COMPLETED, INSTALLATION, KubernetesClickHouseRuntime

KUBECONFIG = os.environ.get("CLICKPLANE_TEST_KUBECONFIG")
NAMESPACE = os.environ.get("CLICKPLANE_TEST_KUBERNETES_NAMESPACE", "clickplane-test")
IN_CLUSTER = os.environ.get("CLICKPLANE_TEST_KUBERNETES_IN_CLUSTER") == "1"
DEADLINE_SECONDS = 600.0

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(KUBECONFIG is None, reason="CLICKPLANE_TEST_KUBECONFIG is not set: no Kubernetes cluster to "
                                                  "test the kubernetes runtime against (none can run here)"),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_service_runs_stops_and_is_deleted_on_a_real_cluster(tmp_path: Path) -> None:
    assert KUBECONFIG is not None
    options = ClusterOptions(namespace=NAMESPACE, clickhouse_image="clickhouse/clickhouse-server:25.3",
                             keeper_image="clickhouse/clickhouse-keeper:25.3", storage_size="1Gi",
                             control_plane_networks=("0.0.0.0/0", "::/0"))
    api = KubernetesApi(NAMESPACE, client_factory(Path(KUBECONFIG), NAMESPACE))
    runtime = KubernetesClickHouseRuntime(options, api, internal_password=lambda sid: f"internal-{sid}",
                                          ca_directory=tmp_path / "ca", start_timeout=DEADLINE_SECONDS)
    service_id = str(uuid.uuid4())
    spec = ServiceSpec(service_id, hashlib.sha256(b"secret").hexdigest(), ip_access_list=("0.0.0.0/0",),
                       settings=(("max_threads", "2"),))
    try:
        await runtime.start(spec)
        if IN_CLUSTER:
            observation = await runtime.wait_until_up(service_id)
            assert observation.running, observation.reason
            assert observation.clickhouse_version
            access = await runtime.sql_access(service_id)
            assert access is not None
            async with httpx.AsyncClient() as client:
                answer = await client.post(access.url, content=b"SELECT getSetting('max_threads')",
                                           auth=("default", "secret"))
            assert answer.text.strip() == "2"
        else:
            await _until_completed(api, service_id)
        await runtime.stop(service_id)
        stopped = await runtime.observe(service_id)
        assert not stopped.running
        assert stopped.reason is None
    finally:
        await runtime.delete(service_id)
        for kind in ("ClickHouseInstallation", "Secret"):
            assert await api.list(kind, label_selector(service_id)) == []
        await runtime.aclose()


async def _until_completed(api: KubernetesApi, service_id: str) -> None:
    """Poll until the operator reports the installation reconciled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_SECONDS
    while True:
        installation = await api.get(INSTALLATION, service_id)
        assert installation is not None
        status = (installation.get("status") or {}).get("status")
        if status == COMPLETED:
            return
        assert loop.time() < deadline, f"the operator did not reconcile {service_id}: status {status}"
        await asyncio.sleep(5)
