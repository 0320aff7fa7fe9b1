"""Session types as the domain sees them."""

from backend.infrastructure.database import AsyncReadSession, AsyncWriteSession, ReadSessionFactory
from backend.infrastructure.database_errors import violated_constraint
from backend.infrastructure.driver import OneStatement, Row, copy_query, fetch
from backend.infrastructure.together import NewRow, WriteTarget, write_together, write_where

# A repository that only reads accepts either; one that writes accepts only AsyncWriteSession.
AnySession = AsyncReadSession | AsyncWriteSession

__all__ = [
    "AnySession",
    "AsyncReadSession",
    "AsyncWriteSession",
    "NewRow",
    "OneStatement",
    "ReadSessionFactory",
    "Row",
    "WriteTarget",
    "copy_query",
    "fetch",
    "violated_constraint",
    "write_together",
    "write_where",
]
