"""Wire models of a service's ClickHouse settings."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from clickplane.kit.schemas import RequestModel, ResponseModel


class ServiceClickhouseSetting(ResponseModel):
    name: str = Field(description="The setting's name, as ClickHouse spells it.")
    value: str = Field(description="Its value for the service's queries, as a string whatever its type.")


class ServiceClickhouseSettingsList(ResponseModel):
    settings: list[ServiceClickhouseSetting] = Field(
        description="The settings set through this API, by name; the others have the engine's defaults.")


class ServiceClickhouseSettingWarning(ResponseModel):
    name: str = Field(description="The setting the warning is about.")
    message: str = Field(description="What changing it does beyond the obvious.")


class ServiceClickhouseSettingsPatchRequest(RequestModel):
    settings: str | dict[str, Any] = Field(
        description='The settings to change, name to value: a JSON object such as {"max_threads": "4"}, or a '
                    "string holding one. Values are strings, numbers or booleans.")


class ServiceClickhouseSettingsPatchResponse(ResponseModel):
    settings: str = Field(description="The settings of the request as a JSON object (a string), name to value.")
    warnings: list[ServiceClickhouseSettingWarning] = Field(
        description="For settings among them whose change deserves a second look.")


class ServiceClickhouseSettingSchemaEntry(ResponseModel):
    name: str = Field(description="The setting's name.")
    type: str = Field(description="What its values are: integer, number, boolean or string.")
    description: str = Field(description="What the setting does, in ClickHouse's words.")
    enum: list[int] | None = Field(default=None, description="The values it takes, for a boolean setting (0, 1).")
    warning: str | None = Field(default=None, description="What changing it does beyond the obvious, if notable.")
    deprecationNotice: str | None = Field(default=None, description="Present when ClickHouse no longer acts on it.")
    example: str | None = Field(default=None, description="A value it takes: the engine's default.")


class ServiceClickhouseSettingsSchema(ResponseModel):
    settings: list[ServiceClickhouseSettingSchemaEntry] = Field(
        description="Every setting the service's ClickHouse server knows, by name.")
