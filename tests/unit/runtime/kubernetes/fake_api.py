"""A test double of the Kubernetes API server: the few paths the kubernetes runtime calls (get, list by label,
server-side apply, merge patch, delete of Secrets and the operator's two kinds in namespaces), behind lightkube's
own transport, so that the runtime's requests are exactly what lightkube sends a cluster."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx2
from lightkube import AsyncClient, KubeConfig

Resource = dict[str, Any]
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
TOKEN = "service-account-token"


def kubeconfig(namespace: str) -> KubeConfig:
    """A kubeconfig of the fake cluster, with a bearer token as a service account has."""
    return KubeConfig.from_dict({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": "https://api.cluster.test"}}],
        "users": [{"name": "clickplane", "user": {"token": TOKEN}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "clickplane", "namespace": namespace}}],
    })


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    content_type: str | None
    params: dict[str, str]


@dataclass
class FakeApiServer:
    # (namespace, plural, name) to the resource as stored.
    objects: dict[tuple[str, str, str], Resource] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    # Answers the next requests with this status code (an RBAC refusal, say) when set.
    refuse_with: int | None = None
    # Kinds (plurals) the cluster does not know: the operator's CRDs not installed.
    missing_kinds: set[str] = field(default_factory=set)
    # Called with each stored installation on every GET of it (the operator's doing, in tests).
    on_get: Callable[[Resource], None] | None = None
    _uids: itertools.count[int] = field(default_factory=itertools.count)

    def client(self, namespace: str) -> AsyncClient:
        return AsyncClient(kubeconfig(namespace), namespace=namespace, field_manager="clickplane",
                           transport=httpx2.MockTransport(self.handle))

    def put(self, namespace: str, plural: str, resource: Resource) -> None:
        """Store a resource as if someone else had made it."""
        self.objects[(namespace, plural, resource["metadata"]["name"])] = copy.deepcopy(resource)

    def find(self, plural: str, name: str, namespace: str = "services") -> Resource | None:
        return self.objects.get((namespace, plural, name))

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        params = {key: values[0] for key, values in parse_qs(request.url.query.decode()).items()}
        self.calls.append(Call(request.method, request.url.path, request.headers.get("content-type"), params))
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _status(401, "Unauthorized", "no token")
        if self.refuse_with is not None:
            return _status(self.refuse_with, "Forbidden", "clickplane may not do that")
        parts = request.url.path.strip("/").split("/")
        # /api/v1/namespaces/NS/PLURAL[/NAME] or /apis/GROUP/VERSION/namespaces/NS/PLURAL[/NAME]
        rest = parts[2:] if parts[0] == "api" else parts[3:]
        assert rest[0] == "namespaces", request.url.path
        namespace, plural, name = rest[1], rest[2], rest[3] if len(rest) > 3 else None
        key = (namespace, plural, name or "")
        if plural in self.missing_kinds:
            return _status(404, "NotFound", "the server could not find the requested resource")
        if name is None:
            assert request.method == "GET"
            return self._list(namespace, plural, params.get("labelSelector", ""))
        stored = self.objects.get(key)
        if request.method == "GET":
            if stored is None:
                return _not_found(name)
            if self.on_get is not None:
                self.on_get(stored)
            return httpx2.Response(200, json=stored)
        if request.method == "DELETE":
            if self.objects.pop(key, None) is None:
                return _not_found(name)
            return httpx2.Response(200, json={"kind": "Status", "apiVersion": "v1", "status": "Success"})
        assert request.method == "PATCH"
        body = json.loads(request.content)
        if request.headers["content-type"] == APPLY:
            assert params.get("fieldManager") == "clickplane"
            applied = copy.deepcopy(body)
            if stored is not None:
                if "status" in stored:  # the operator's: an apply leaves it alone
                    applied["status"] = stored["status"]
                applied["metadata"] = {**stored["metadata"], **applied["metadata"]}
                if stored.get("spec") != applied.get("spec"):
                    applied["metadata"]["generation"] = stored["metadata"]["generation"] + 1
            else:
                applied["metadata"].update(uid=f"uid-{next(self._uids)}", generation=1)
            self.objects[key] = applied
            return httpx2.Response(200, json=applied)
        assert request.headers["content-type"] == MERGE
        if stored is None:
            return _not_found(name)
        self.objects[key] = _merge(stored, body)
        return httpx2.Response(200, json=self.objects[key])

    def _list(self, namespace: str, plural: str, selector: str) -> httpx2.Response:
        wanted = dict(term.split("=", 1) for term in selector.split(",") if term)
        items = [resource for (ns, kind, _), resource in sorted(self.objects.items())
                 if ns == namespace and kind == plural
                 and all(resource["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())]
        return httpx2.Response(200, json={"kind": "List", "apiVersion": "v1", "metadata": {}, "items": items})


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged


def _status(code: int, reason: str, message: str) -> httpx2.Response:
    return httpx2.Response(code, json={"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
                                       "message": message, "code": code})


def _not_found(name: str) -> httpx2.Response:
    return _status(404, "NotFound", f"{name} not found")
