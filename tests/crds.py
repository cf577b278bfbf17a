"""The Altinity operator's CRD schemas (shared/reference/kubernetes, operator 0.25.6), and a check of a resource
against them: what the kubernetes runtime's tests and the `clickplane kubernetes manifests` test validate with."""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema
import yaml
from lightkube import codecs

from tests.shared import shared_file

CRD_FILES = ("clickhouseinstallations.clickhouse.altinity.com.crd.yaml",
             "clickhousekeeperinstallations.clickhouse-keeper.altinity.com.crd.yaml")


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) to the openAPIV3Schema of that CRD version; skips the test without shared/."""
    schemas = {}
    for name in CRD_FILES:
        for crd in yaml.safe_load_all(shared_file("reference", "kubernetes", name).read_text()):
            if not crd:
                continue
            for version in crd["spec"]["versions"]:
                key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
                schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def schema_errors(resource: dict[str, Any]) -> list[str]:
    """Where `resource` breaks its CRD's schema (OpenAPI v3's structural subset, which Draft 4 reads; `nullable` and
    the x-kubernetes-* keywords are not checked); a core resource (a Secret) is read by lightkube's typed models,
    which refuse wrong types, and must come back from them unchanged (an unknown field would be dropped)."""
    schema = crd_schemas().get((resource["apiVersion"], resource["kind"]))
    if schema is None:
        try:
            read = codecs.from_dict(resource).to_dict()
        except Exception as error:  # any refusal is the answer
            return [f"{resource['kind']}: {error}"]
        return [] if read == resource else [f"{resource['kind']}: fields lightkube does not know: {read} != {resource}"]
    validator = jsonschema.Draft4Validator(schema)
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(resource)]
