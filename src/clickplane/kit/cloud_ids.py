"""The forms of cloud identifiers the API records without reaching the cloud: private endpoint ids (as
clickhousectl checks them before sending) and the accounts BYOC infrastructure names."""

from __future__ import annotations

import re

from clickplane.kit.errors import BadRequest

GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
ENDPOINT_IDS = {
    "aws": (re.compile(r"vpce-(?:[0-9a-f]{8}|[0-9a-f]{17})"),
            "an AWS VPC endpoint id: vpce- and 8 or 17 lowercase hexadecimal digits (vpce-0123456789abcdef0)"),
    "gcp": (re.compile(r"[0-9]{1,20}"), "a GCP Private Service Connect connection id: digits (12345678901234)"),
    # A group's or an endpoint's name: printable characters but slashes and spaces (_check refuses unprintable).
    "azure": (re.compile(rf"{GUID}|/subscriptions/{GUID}/resourceGroups/[^/\s]+/providers/Microsoft\.Network/"
                         r"privateEndpoints/[^/\s]+", re.IGNORECASE),
              "an Azure private endpoint's resource GUID, or its resource id (/subscriptions/<guid>/resourceGroups/"
              "<group>/providers/Microsoft.Network/privateEndpoints/<name>)"),
}
ACCOUNT_IDS = {
    "aws": (re.compile(r"[0-9]{12}"), "an AWS account id: 12 digits"),
    "gcp": (re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]"),
            "a GCP project id: 6 to 30 lowercase letters, digits and dashes, starting with a letter"),
    "azure": (re.compile(GUID), "an Azure subscription id (a GUID)"),
}


def _check(forms: dict[str, tuple[re.Pattern[str], str]], provider: str, value: str, where: str) -> str:
    pattern, wanted = forms[provider]
    if not value.isprintable() or not pattern.fullmatch(value):
        raise BadRequest(f"{where} {value!r} is not {wanted}, as {provider} writes one")
    return value


def check_endpoint_id(provider: str, endpoint_id: str, where: str) -> str:
    """The endpoint id if it has the form of `provider`'s; BadRequest saying which form it needs."""
    return _check(ENDPOINT_IDS, provider, endpoint_id, where)


def check_account_id(provider: str, account_id: str, where: str) -> str:
    return _check(ACCOUNT_IDS, provider, account_id, where)
