"""Registry of permission-scoped resource types (domain, project, inbox) across capabilities.

Accounts and tokens must validate grants on resources owned by other capabilities and list
them in ``/permissions/resources`` without reaching into their tables, so each capability
registers how to find its resources when it is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class ResourceNode:
    id: int
    name: str
    type: str
    children: list[ResourceNode] = field(default_factory=list)


@dataclass(frozen=True)
class ResourceType:
    name: str
    exists: Callable[[int, int], bool]  # (account_id, resource_id) -> bool
    nodes: Callable[[int], list[ResourceNode]]  # account_id -> top-level nodes for the tree


_types: dict[str, ResourceType] = {}


def register(resource_type: ResourceType) -> None:
    _types[resource_type.name] = resource_type


def get(name: str) -> ResourceType | None:
    return _types.get(name)


def all_types() -> list[ResourceType]:
    return list(_types.values())
