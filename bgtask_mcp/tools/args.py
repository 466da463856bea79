"""The arguments the tools share: one type, one description each.

Optional arguments are ``T | None`` with their default: a model may send ``null`` to mean "use the default"
(OpenAI strict mode makes every argument required, so ``null`` is how it says "default"), and ``or_default``
turns that back into the default. Defaults and bounds are also written into the descriptions, because some
platforms drop the schema keywords (Gemini drops ``exclusiveMinimum``; OpenAI strict drops ``default: null``).
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from pydantic import Field

from bgtask_mcp import ids

T = TypeVar("T")


def or_default(value: T | None, default: T) -> T:
    return default if value is None else value


# Longer than any DMS id, with room for stray spaces: advertised in the schema so that clients can stop such a
# value; the server's own check (ids.py) refuses it with a message that says what to do next.
MAX_ID_LENGTH = {"maxLength": 64}

InstanceId = Annotated[
    str,
    Field(
        json_schema_extra=MAX_ID_LENGTH,
        description="Instance ID (a UUID); list_instances(name=...) finds it from a name.",
    ),
]
TaskId = Annotated[
    str,
    Field(
        json_schema_extra=MAX_ID_LENGTH,
        description=f"Task ID: {ids.TASK.accepted}.",
    ),
]
Region = Annotated[
    str | None,
    Field(description="Region, e.g. eu-nl; null: the server's default region."),
]
ProjectId = Annotated[
    str | None,
    Field(
        json_schema_extra=MAX_ID_LENGTH,
        description="Project ID; null: the region's own.",
    ),
]
Cloud = Annotated[
    str | None,
    Field(description="Which configured cloud (account) to ask. null (the default): the default cloud."),
]
Engine = Literal["kafka", "rabbitmq", "rocketmq"]
EngineFilter = Annotated[
    Engine | None,
    Field(description="Only this engine; null (the default): all three."),
]
