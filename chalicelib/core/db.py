"""pynamodb base model: table names from configuration, and a registry of every model.

infra/template.yaml declares the same tables; tests/unit/test_infra.py checks that every model
here has its table there with the same keys and indexes (one source of truth).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pynamodb.attributes import UTCDateTimeAttribute
from pynamodb.connection import Connection
from pynamodb.models import Model

from chalicelib.core import clock
from chalicelib.core.config import settings

ALL_MODELS: list[type[Model]] = []
# HTTP connections a table's client keeps (pynamodb's default is 10): the SMTP ingress and
# bulk contact actions call from 16 threads, and a full pool throws connections away.
MAX_POOL_CONNECTIONS = 32


def table_name(name: str) -> str:
    return settings().table_name(name)


def transactions() -> Connection:
    """The connection pynamodb's TransactWrite needs (models keep their own)."""
    return _connection(settings().region, settings().aws_endpoint_url)


@lru_cache(maxsize=4)
def _connection(region: str, host: str | None) -> Connection:
    # one per endpoint: a new botocore client costs ~0.3 s
    return Connection(region=region, host=host, max_pool_connections=MAX_POOL_CONNECTIONS)


class BaseModel(Model):
    """Every Postline table model derives from this."""

    class Meta:
        abstract = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not getattr(cls.Meta, "abstract", False):
            cls.Meta.region = settings().region
            cls.Meta.max_pool_connections = MAX_POOL_CONNECTIONS
            ALL_MODELS.append(cls)


class TimestampedModel(BaseModel):
    class Meta:
        abstract = True

    created_at = UTCDateTimeAttribute(default_for_new=clock.now)
    updated_at = UTCDateTimeAttribute(default=clock.now)

    def save(self, *args: Any, **kwargs: Any) -> Any:
        self.updated_at = clock.now()
        return super().save(*args, **kwargs)


def condition_failed(exc: Exception) -> bool:
    """True when a pynamodb write failed on its condition: a Put/Update/Delete, or a
    TransactWrite one of whose items' conditions failed."""
    if (getattr(exc, "cause_response_code", None) or "") == "ConditionalCheckFailedException":
        return True
    reasons = getattr(exc, "cancellation_reasons", None) or []
    return any(getattr(r, "code", None) == "ConditionalCheckFailed" for r in reasons)
