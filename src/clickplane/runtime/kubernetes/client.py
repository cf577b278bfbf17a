"""The few calls the kubernetes runtime makes to the API server, through lightkube: server-side apply, get, a
merge patch, delete, and lists by label, on Secrets and the operator's two kinds, in one namespace.

Resources go in and come out as plain dicts (manifests.py builds them); any failure to reach the API server or
any refusal from it becomes a RuntimeFailure that says which call on which resource failed and why.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
from lightkube import AsyncClient, ConfigError, KubeConfig, codecs
from lightkube.core.client import LabelSelector
from lightkube.core.exceptions import ApiError
from lightkube.core.resource import NamespacedResource
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType

from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.kubernetes.manifests import INSTALLATION_API_VERSION, KEEPER_API_VERSION, Manifest

FIELD_MANAGER = "clickplane"


def _custom_kind(api_version: str, kind: str) -> type[NamespacedResource]:
    group, version = api_version.split("/")
    return create_namespaced_resource(group, version, kind, f"{kind.lower()}s")


ClickHouseInstallation = _custom_kind(INSTALLATION_API_VERSION, "ClickHouseInstallation")
ClickHouseKeeperInstallation = _custom_kind(KEEPER_API_VERSION, "ClickHouseKeeperInstallation")

# The kinds the runtime makes, by the kind in their manifests; deleted in this order (the installation first).
KINDS: dict[str, type[NamespacedResource]] = {
    "ClickHouseInstallation": ClickHouseInstallation,
    "ClickHouseKeeperInstallation": ClickHouseKeeperInstallation,
    "Secret": Secret,
}


def client_factory(kubeconfig: Path | None, namespace: str) -> Callable[[], AsyncClient]:
    """How to make the client: from the kubeconfig file given, else the pod's service account, else $KUBECONFIG or
    ~/.kube/config. Read when first needed, so that commands that only render manifests need no cluster."""
    def make() -> AsyncClient:
        config = KubeConfig.from_file(kubeconfig) if kubeconfig is not None else KubeConfig.from_env()
        return AsyncClient(config, namespace=namespace, field_manager=FIELD_MANAGER)
    return make


class KubernetesApi:
    """One namespace of one cluster, as the runtime uses it."""

    def __init__(self, namespace: str, make_client: Callable[[], AsyncClient]) -> None:
        self.namespace = namespace
        self._make_client = make_client
        self._client: AsyncClient | None = None

    async def apply(self, manifest: Manifest) -> Manifest:
        """Server-side apply of the whole resource as clickplane's field manager, taking over any field another
        manager set (clickplane owns what it made); the resource as the API server now has it."""
        name = manifest["metadata"]["name"]
        resource = codecs.from_dict(manifest)
        try:
            applied = await self._call(f"apply {manifest['kind']} {name}",
                                       lambda client: client.apply(resource, force=True))
        except _NotFound:
            raise self._unknown(manifest["kind"]) from None
        return _as_dict(applied)

    async def get(self, kind: str, name: str) -> Manifest | None:
        """The resource, or None when there is none."""
        try:
            found = await self._call(f"get {kind} {name}", lambda client: client.get(KINDS[kind], name))
        except _NotFound:
            return None
        return _as_dict(found)

    async def merge_patch(self, kind: str, name: str, patch: Manifest) -> bool:
        """Merge `patch` into the resource; False when there is none."""
        try:
            await self._call(f"patch {kind} {name}", lambda client: client.patch(
                KINDS[kind], name, patch, patch_type=PatchType.MERGE))
        except _NotFound:
            return False
        return True

    async def delete(self, kind: str, name: str) -> None:
        """Delete the resource (its dependents in the background); none there is no error."""
        try:
            await self._call(f"delete {kind} {name}", lambda client: client.delete(KINDS[kind], name))
        except _NotFound:
            return

    async def list(self, kind: str, labels: dict[str, str]) -> list[Manifest]:
        """The resources of `kind` bearing every one of `labels`."""
        selector: LabelSelector = {**labels}

        async def listing(client: AsyncClient) -> list[Manifest]:
            return [_as_dict(item) async for item in client.list(KINDS[kind], labels=selector)]
        try:
            listed: list[Manifest] = await self._call(f"list {kind} labelled {labels}", listing)
        except _NotFound:
            raise self._unknown(kind) from None
        return listed

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def _call(self, what: str, call: Callable[[AsyncClient], Any]) -> Any:
        try:
            if self._client is None:
                self._client = self._make_client()
            return await call(self._client)
        except ApiError as error:
            if error.status.code == 404:
                raise _NotFound from None
            raise RuntimeFailure(f"the Kubernetes API server refused to {what} in namespace {self.namespace}: "
                                 f"{error.status.message}") from None
        except ConfigError as error:
            raise RuntimeFailure(f"could not {what}: no Kubernetes cluster is configured ({error}); set "
                                 "CLICKPLANE_KUBERNETES_KUBECONFIG, or run in a pod with a service account") from None
        except (httpx2.HTTPError, OSError) as error:
            raise RuntimeFailure(f"could not {what} in namespace {self.namespace}: the Kubernetes API server cannot "
                                 f"be reached ({error})") from None

    def _unknown(self, kind: str) -> RuntimeFailure:
        """What a 404 on a collection means: the kind or the namespace is not there."""
        return RuntimeFailure(f"the Kubernetes API server has no {kind} in namespace {self.namespace}: is the "
                              "namespace there, and the Altinity clickhouse-operator (its CRDs) installed?")


class _NotFound(Exception):
    """The API server has no such resource (404)."""


def _as_dict(resource: Any) -> Manifest:
    converted: Manifest = resource.to_dict()
    return converted
