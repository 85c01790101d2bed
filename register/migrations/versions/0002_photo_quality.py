"""photo.quality_warnings: the photo's exposure warnings (detector.photo_quality)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL: not checked (photos recorded before this revision); "": checked, no warning
    with op.batch_alter_table("photo", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quality_warnings", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("photo", schema=None) as batch_op:
        batch_op.drop_column("quality_warnings")
