"""Alembic environment: run programmatically by ``register.db.migrate`` with a connection."""

from alembic import context

from register.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when run outside register.db.migrate
    raise RuntimeError("run migrations through register.db.migrate(engine)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
