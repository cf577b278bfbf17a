"""Wire models of upgrade windows: every field a JSON integer (clickhousectl reads them as i64)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from clickplane.kit.schemas import RequestModel, ResponseModel

StartHour = Literal[0, 6, 12, 18]
WINDOW_HOURS = 6


class UpgradeWindow(ResponseModel):
    weekday: int = Field(ge=0, le=6, description="Day the window starts: 0 = Sunday, 1 = Monday, ..., 6 = Saturday.")
    startHourUtc: StartHour = Field(description="UTC hour the window starts: 0, 6, 12 or 18.")
    duration: Literal[6] = Field(description="Length of the window in hours: always 6.")


class UpgradeWindowPutRequest(RequestModel):
    weekday: Annotated[int, Field(ge=0, le=6)] = Field(
        description="Day the window starts: 0 = Sunday, 1 = Monday, ..., 6 = Saturday.")
    startHourUtc: StartHour = Field(description="UTC hour the window starts: 0, 6, 12 or 18; it lasts 6 hours.")
