"""Wire models of replica-aware routing (absent from the reference document)."""

from __future__ import annotations

from pydantic import Field

from clickplane.kit.schemas import RequestModel, ResponseModel


class ReplicaAwareRouting(ResponseModel):
    httpEnabled: bool = Field(description="Replica-aware routing of HTTP connections (recorded; see the README).")
    nativeEnabled: bool = Field(description="Replica-aware routing of native connections (recorded).")


class ReplicaAwareRoutingPatchRequest(RequestModel):
    """Fields left out (or null) keep their value."""

    httpEnabled: bool | None = Field(default=None, description="Turn routing of HTTP connections on or off.")
    nativeEnabled: bool | None = Field(default=None, description="Turn routing of native connections on or off.")
