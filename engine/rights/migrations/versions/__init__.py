"""The Alembic revisions of the rights registry, oldest first (``r0001_...``, ``r0002_...``)."""
