"""The Prometheus text exposition format (0.0.4), shared by the ClickHouse and the Postgres endpoints: families of
samples, each written with its HELP and TYPE once, label values and help text escaped; and the response carrying
it (plain text, not the JSON envelope)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from blacksheep import Content, Response

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]


@dataclass
class Family:
    name: str
    kind: str  # gauge, counter
    help: str
    samples: list[tuple[Labels, float]] = field(default_factory=list)


def render(families: Iterable[Family]) -> str:
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        lines.extend(f"{family.name}{{{_labels(labels)}}} {_number(value)}" for labels, value in family.samples)
    return "\n".join(lines) + "\n" if lines else ""


def exposition(text: str) -> Response:
    return Response(200, None, Content(CONTENT_TYPE.encode(), text.encode()))


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(value)


def _labels(labels: Labels) -> str:
    return ",".join(f'{name}="{_label_value(value)}"' for name, value in labels)


def _label_value(value: str) -> str:
    return _escape(value).replace('"', '\\"')
