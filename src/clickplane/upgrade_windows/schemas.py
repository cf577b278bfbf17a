"""Wire models of upgrade windows: every field a JSON integer (clickhousectl reads them as i64)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from clickplane.kit import weekly
from clickplane.kit.schemas import RequestModel, ResponseModel

START_HOURS = (0, 6, 12, 18)
WINDOW_HOURS = 6


def _start_hour(hour: int) -> int:
    # Checked here, not as a Literal: a Literal takes false for 0 (false == 0 in Python).
    if hour not in START_HOURS:
        raise PydanticCustomError("enum", "Input should be 0, 6, 12 or 18")
    return hour


StartHour = Annotated[int, Field(json_schema_extra={"enum": list(START_HOURS)}), weekly.INTEGER,
                      AfterValidator(_start_hour)]


class UpgradeWindow(ResponseModel):
    weekday: int = Field(ge=0, le=6, description="Day the window starts: 0 = Sunday, 1 = Monday, ..., 6 = Saturday.")
    startHourUtc: StartHour = Field(description="UTC hour the window starts: 0, 6, 12 or 18.")
    duration: Literal[6] = Field(description="Length of the window in hours: always 6.")


class UpgradeWindowPutRequest(RequestModel):
    weekday: Annotated[int, Field(ge=0, le=6), weekly.INTEGER] = Field(
        description="Day the window starts: 0 = Sunday, 1 = Monday, ..., 6 = Saturday.")
    startHourUtc: StartHour = Field(description="UTC hour the window starts: 0, 6, 12 or 18; it lasts 6 hours.")
