"""Access levels and the rule that decides what a token may do.

A token carries grants: (resource_type, resource_id, access_level). A grant on the
account reaches every resource in it; a grant on a project reaches the project's inboxes.
Levels follow Mailtrap: 1000 owner, 100 admin, 10 viewer. Viewers read; admins change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OWNER = 1000
ADMIN = 100
VIEWER = 10

LEVEL_NAMES = {OWNER: "owner", ADMIN: "admin", VIEWER: "viewer"}
GRANTABLE_LEVELS = (ADMIN, VIEWER)
# Mailtrap's newer spec says "sandbox" where the SDK says "inbox"; both name one thing.
RESOURCE_ALIASES = {"sandbox": "inbox", "sending_domain": "domain"}


@dataclass(frozen=True)
class Grant:
    resource_type: str
    resource_id: int
    access_level: int

    def to_wire(self) -> dict:
        return {
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "access_level": self.access_level,
        }


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account a token belongs to and what it was granted."""

    account_id: int
    token_id: int
    token_name: str
    grants: tuple[Grant, ...] = field(default_factory=tuple)
    reset: bool = False  # the token was reset: it works until its grace ends, but manages nothing

    def level_for(self, resource_type: str = "account", resource_id: int | None = None,
                  parents: tuple[tuple[str, int], ...] = ()) -> int:
        """Effective level on a resource: the highest grant on it, its parents or the account."""
        targets = {("account", self.account_id), *parents}
        if resource_id is not None:
            targets.add((resource_type, int(resource_id)))
        return max(
            (g.access_level for g in self.grants if (g.resource_type, g.resource_id) in targets),
            default=0,
        )

    def is_account_admin(self) -> bool:
        return self.level_for() >= ADMIN

    def can(self, level: int, resource_type: str = "account", resource_id: int | None = None,
            parents: tuple[tuple[str, int], ...] = ()) -> bool:
        return self.level_for(resource_type, resource_id, parents) >= level

    def resource_ids(self, resource_type: str, level: int = VIEWER) -> set[int] | None:
        """Ids of one resource type this token reaches directly; None means all (account grant)."""
        if self.level_for() >= level:
            return None
        return {g.resource_id for g in self.grants
                if g.resource_type == resource_type and g.access_level >= level}
