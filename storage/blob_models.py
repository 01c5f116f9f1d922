"""Where a raw message lives when it is too big for the cache database: the blob store.

A message has its raw copy either in ``raw_message`` (zlib, in the database) or here (a
reference to a file in :class:`helpdesk.storage.blobs.BlobStore`), never in both.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class RawBlob(SQLModel, table=True):
    __tablename__ = "raw_blob"

    message: int = Field(primary_key=True, foreign_key="message.id")
    digest: str = Field(index=True)  # sha256 hex of the raw bytes: the blob's name
    size: int  # bytes before compression
