"""auth_tables: a new store holds auth's tables beside its catalog, on DuckDB and PostgreSQL, and auth reads
and writes them."""

from __future__ import annotations

from dashboard import auth, auth_tables
from dashboard.store import Store


def test_a_new_store_creates_auths_tables(store: Store):
    store.initialise()
    names = [ddl.split("EXISTS")[1].split("(")[0].strip() for ddl in auth_tables.DDL]
    assert names == ["users", "sign_in_failures", "sessions"]
    for name in names:
        assert store.rows(f"SELECT COUNT(*) FROM {name}") == [(0,)]  # noqa: S608 - names from the DDL above
    auth.add_user(store, "ana", "analyst", "a long enough passphrase", "admin", "admin")
    assert auth.users(store)["username"].tolist() == ["ana"]
