"""Wire models of service profiles (absent from the reference document)."""

from __future__ import annotations

from pydantic import Field

from clickplane.kit.enums import Profile
from clickplane.kit.schemas import ResponseModel


class ServiceProfile(ResponseModel):
    profile: Profile = Field(description="A profile a service may be created with (its `profile`).")
    cpuCores: float = Field(description="CPU cores of its smallest replica, at 4 GiB per core.")
    memoryGi: float = Field(description="Memory of its smallest replica, GiB.")
