"""The test domain's table: one row per tally, owned by its user."""

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shiftdesk.storage.models import Base, table_access


class TallyRecord(Base):
    """A named count owned by one user (row-level security: ``owner``)."""

    __tablename__ = "test_tallies"
    __table_args__ = table_access("owner")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255))
    count: Mapped[int] = mapped_column(Integer, default=0)
