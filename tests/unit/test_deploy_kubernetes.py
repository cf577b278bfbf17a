"""deploy/kubernetes, checked as far as can be without a cluster: every file parses and is a resource lightkube's
typed models read back unchanged, kustomization.yaml lists exactly the files, the names that refer to one another
agree, the settings are clickplane's, and the Role grants exactly what the kubernetes runtime calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from lightkube import codecs

from clickplane.runtime.kubernetes.client import KINDS
from clickplane.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
# What KubernetesApi calls: get, list (by label), server-side apply (a PATCH, and create when the object is new),
# a merge patch (stop) and delete. No watch, no update.
RUNTIME_VERBS = ["get", "list", "create", "patch", "delete"]


def resources() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            found[(document["kind"], document["metadata"]["name"])] = document
    return found


def test_every_file_is_in_the_kustomization_and_is_a_valid_resource() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    files = {path.name for path in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)
    for resource in resources().values():
        assert codecs.from_dict(resource).to_dict() == resource, resource["kind"]


def test_the_role_grants_exactly_what_the_runtime_calls_in_the_services_namespace_only() -> None:
    found = resources()
    assert not [kind for kind, _ in found if kind.startswith("Cluster")]  # nothing cluster-wide
    role = found[("Role", "clickplane-runtime")]
    wanted = []
    for kind in KINDS.values():
        resource = kind._api_info.resource
        wanted.append({"apiGroups": [resource.group], "resources": [kind._api_info.plural], "verbs": RUNTIME_VERBS})
    assert sorted(role["rules"], key=repr) == sorted(wanted, key=repr)
    config = found[("ConfigMap", "clickplane")]["data"]
    assert role["metadata"]["namespace"] == config["CLICKPLANE_KUBERNETES_NAMESPACE"]
    assert ("Namespace", config["CLICKPLANE_KUBERNETES_NAMESPACE"]) in found


def test_names_agree() -> None:
    found = resources()
    deployment = found[("Deployment", "clickplane")]
    pod = deployment["spec"]["template"]
    binding = found[("RoleBinding", "clickplane-runtime")]
    account = found[("ServiceAccount", pod["spec"]["serviceAccountName"])]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "clickplane-runtime"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": account["metadata"]["namespace"]}]
    assert account["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert ("Namespace", deployment["metadata"]["namespace"]) in found
    service = found[("Service", "clickplane")]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    container = pod["spec"]["containers"][0]
    assert container["envFrom"] == [{"configMapRef": {"name": "clickplane"}}]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    config = found[("ConfigMap", "clickplane")]["data"]
    assert ports["http"] == int(config["CLICKPLANE_PORT"])
    assert {port["targetPort"] for port in service["spec"]["ports"]} <= set(ports)
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    assert mounts["data"] == config["CLICKPLANE_DATA_DIR"]
    assert mounts["ca"] == f"{config['CLICKPLANE_DATA_DIR']}/ca"  # where clickplane looks for its CA


def test_several_replicas_serve_on_postgresql_with_clickplanes_settings() -> None:
    found = resources()
    deployment = found[("Deployment", "clickplane")]
    assert deployment["spec"]["replicas"] >= 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["clickplane", "serve"]
    names = set(found[("ConfigMap", "clickplane")]["data"]) | {variable["name"] for variable in container["env"]}
    assert "CLICKPLANE_DATABASE_URL" in names  # the lease of several replicas is PostgreSQL's
    known = {f"CLICKPLANE_{field.upper()}" for field in Settings.model_fields}
    assert names <= known, names - known
    settings = Settings(**{name.removeprefix("CLICKPLANE_").lower(): value
                           for name, value in found[("ConfigMap", "clickplane")]["data"].items()})
    assert settings.clickhouse_runtime == "kubernetes"
