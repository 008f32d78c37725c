"""The DDL of auth's tables (users, sign-in failures, sessions), created with the store's catalog so that a
backup or a second replica carries the accounts too. DDL only: the reads and writes are auth.py's.
"""

from __future__ import annotations

# Passwords are kept only as scrypt hashes and sessions only as SHA-256 hashes of their tokens (see auth.py).
DDL = (
    """
    CREATE TABLE IF NOT EXISTS users (
        username TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        password_hash TEXT,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL
    )
    """,
    # Keyed by the name typed, whether or not such a user exists, so lockout does not reveal accounts.
    """
    CREATE TABLE IF NOT EXISTS sign_in_failures (
        username TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        last_failure TIMESTAMP NOT NULL,
        locked_until TIMESTAMP
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS sessions (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        created_at TIMESTAMP NOT NULL,
        expires_at TIMESTAMP NOT NULL
    )
    """,
)
