"""Names shared by the rights modules, importable without the database layer."""

CHANNELS: tuple[str, ...] = ("social", "e-commerce", "print", "out-of-home", "internal-fit-check")
"""The channels a consent grant can cover."""

ANY_REGION = "*"
"""The region code of a grant that covers every region."""
