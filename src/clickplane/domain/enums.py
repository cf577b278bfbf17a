"""The Cloud API's enumerations, as literal types shared by the wire schemas and the domain rules."""

from __future__ import annotations

from typing import Literal

Provider = Literal["aws", "gcp", "azure"]

Region = Literal[
    "ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
    "ca-central-1", "eu-central-1", "eu-west-1", "eu-west-2", "il-central-1",
    "us-east-1", "us-east-2", "us-west-2",
    "us-east1", "us-central1", "europe-west2", "europe-west4", "asia-southeast1", "asia-northeast1",
    "eastus", "eastus2", "westus3", "germanywestcentral", "centralus",
]  # fmt: skip

ServiceState = Literal[
    "starting", "stopping", "terminating", "softdeleting", "awaking", "partially_running",
    "provisioning", "running", "stopped", "terminated", "softdeleted", "degraded", "failed", "idle",
]  # fmt: skip

Tier = Literal[
    "development", "production", "dedicated_high_mem", "dedicated_high_cpu", "dedicated_standard",
    "dedicated_standard_n2d_standard_4", "dedicated_standard_n2d_standard_8",
    "dedicated_standard_n2d_standard_32", "dedicated_standard_n2d_standard_128",
    "dedicated_standard_n2d_standard_32_16SSD", "dedicated_standard_n2d_standard_64_24SSD",
]  # fmt: skip

AutoscalingMode = Literal["vertical", "horizontal"]
ReleaseChannel = Literal["slow", "default", "fast"]
Profile = Literal["v1-default", "v1-highmem-xs", "v1-highmem-s", "v1-highmem-m", "v1-highmem-l", "v1-highmem-xl"]
ComplianceType = Literal["hipaa", "pci"]
# The reference's three, plus the plain (non-TLS) ports a local service also offers for development.
EndpointProtocol = Literal["https", "nativesecure", "mysql", "http", "native"]
ToggleableProtocol = Literal["mysql"]
ByocState = Literal["infra-ready", "infra-provisioning", "infra-terminated"]

# Which regions belong to which provider, so a create can refuse `aws` in `eastus`.
REGIONS_BY_PROVIDER: dict[str, frozenset[str]] = {
    "aws": frozenset({"ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
                      "ca-central-1", "eu-central-1", "eu-west-1", "eu-west-2", "il-central-1", "us-east-1",
                      "us-east-2", "us-west-2"}),
    "gcp": frozenset({"us-east1", "us-central1", "europe-west2", "europe-west4", "asia-southeast1",
                      "asia-northeast1"}),
    "azure": frozenset({"eastus", "eastus2", "westus3", "germanywestcentral", "centralus"}),
}

QuotaCode = Literal["services-per-organization", "postgres-services-per-organization", "replicas-per-warehouse"]
QuotaScope = Literal["organization", "warehouse"]
