"""auth: password storage, throttling and lockout on a fake clock, sessions, role changes, OpenID Connect
identities, run-time settings, and what the audit log records (and never records)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest

from dashboard import auth, config
from dashboard.store import Store

PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 11, 24, 9, 0, 0)
POLICY = auth.Policy(max_failures=5, lockout_minutes=15, session_hours=12)


@pytest.fixture
def users(store: Store) -> Store:
    auth.add_user(store, "Ana", "analyst", PASSWORD, actor="tests")
    return store


def dump(store: Store) -> str:
    """Everything the store holds outside the datasets, as text (to look for secrets in it)."""
    tables = ["users", "sessions", "audit_log", "sign_in_failures"]
    return "\n".join(str(store.rows(f"SELECT * FROM {t}")) for t in tables)  # noqa: S608 - fixed names


# ------------------------------------------------------------------------------------- passwords


def test_password_hash_is_salted_scrypt_and_verifies():
    one, two = auth.hash_password(PASSWORD), auth.hash_password(PASSWORD)
    assert one != two and one.startswith("scrypt$32768$8$1$") and PASSWORD not in one
    assert auth.verify_password(PASSWORD, one) and auth.verify_password(PASSWORD, two)
    assert not auth.verify_password(PASSWORD + " ", one)
    # an independent scrypt computation of the stored salt gives the stored digest
    _, n, r, p, salt, digest = one.split("$")
    import base64

    again = hashlib.scrypt(PASSWORD.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                           dklen=32, maxmem=128 * 1024 * 1024)
    assert base64.b64encode(again).decode() == digest


@pytest.mark.parametrize("stored", [None, "", "plain", "md5$x$y", "scrypt$a$b$c$d$e", "scrypt$16384$8$1$!!$!!"])
def test_malformed_hashes_never_verify(stored):
    assert not auth.verify_password(PASSWORD, stored)


def test_passwords_are_never_stored_or_audited_in_clear(users):
    auth.sign_in(users, "ana", PASSWORD, POLICY, now=T0)
    with pytest.raises(auth.SignInError):
        auth.sign_in(users, "ana", "not the password at all", POLICY, now=T0 + timedelta(hours=1))
    auth.set_password(users, "ana", "another long passphrase", actor="tests")
    text = dump(users)
    for secret in (PASSWORD, "not the password at all", "another long passphrase"):
        assert secret not in text


def test_short_passwords_and_bad_names_are_refused(store):
    with pytest.raises(auth.AccountError, match="at least 12"):
        auth.add_user(store, "bob", "council", "short", actor="tests")
    with pytest.raises(auth.AccountError, match="not a valid user name"):
        auth.add_user(store, "<script>", "council", PASSWORD, actor="tests")
    with pytest.raises(ValueError, match="unknown role"):
        auth.add_user(store, "bob", "superuser", PASSWORD, actor="tests")
    assert store.rows("SELECT COUNT(*) FROM users") == [(0,)]


# ------------------------------------------------------------------------------- sign-in, lockout


def test_sign_in_returns_identity_and_a_session_stored_only_as_a_hash(users):
    who, token = auth.sign_in(users, " ANA ", PASSWORD, POLICY, now=T0)
    assert who == auth.Identity("ana", "analyst", "password")
    assert len(token) >= 40 and token not in dump(users)
    assert auth.resolve(users, token, now=T0 + timedelta(hours=1)) == who
    assert auth.resolve(users, token, now=T0 + timedelta(hours=12, seconds=1)) == auth.ANONYMOUS  # expired
    assert auth.resolve(users, "forged", now=T0) == auth.ANONYMOUS
    assert auth.resolve(users, None) == auth.ANONYMOUS


def test_unknown_user_and_wrong_password_get_the_same_answer(users):
    messages = []
    for name, password in (("nobody", PASSWORD), ("ana", "wrong password here")):
        with pytest.raises(auth.SignInError) as info:
            auth.sign_in(users, name, password, POLICY, now=T0)
        messages.append((info.value.title, info.value.message))
    assert messages[0] == messages[1]


def test_failures_are_slowed_then_locked_then_released(users):
    now = T0
    waits = []
    for attempt in range(1, 6):
        with pytest.raises(auth.SignInError, match="wrong password"):
            auth.sign_in(users, "ana", "wrong password here", POLICY, now=now)
        if attempt < 5:
            # right away: refused while throttled, even with the right password
            with pytest.raises(auth.SignInError, match="Wait"):
                auth.sign_in(users, "ana", PASSWORD, POLICY, now=now + timedelta(milliseconds=1))
            waits.append(2 ** (attempt - 1))
            now += timedelta(seconds=waits[-1])
    assert waits == [1, 2, 4, 8]
    # the fifth failure locks the name for 15 minutes, even for the right password
    with pytest.raises(auth.SignInError, match="minute") as info:
        auth.sign_in(users, "ana", PASSWORD, POLICY, now=now + timedelta(minutes=14))
    assert info.value.title == "Account locked"
    who, _ = auth.sign_in(users, "ana", PASSWORD, POLICY, now=now + timedelta(minutes=15, seconds=1))
    assert who.username == "ana"
    assert users.rows("SELECT COUNT(*) FROM sign_in_failures") == [(0,)]  # success clears the count


def test_lockout_applies_to_unknown_names_too_and_an_admin_can_unlock(users):
    for i in range(5):
        with pytest.raises(auth.SignInError):
            auth.sign_in(users, "ghost", "whatever password", POLICY, now=T0 + timedelta(minutes=i))
    with pytest.raises(auth.SignInError, match="minute"):
        auth.sign_in(users, "ghost", "whatever password", POLICY, now=T0 + timedelta(minutes=5))
    auth.unlock(users, "ghost", actor="admin1")
    with pytest.raises(auth.SignInError, match="wrong password"):  # counted afresh, not locked
        auth.sign_in(users, "ghost", "whatever password", POLICY, now=T0 + timedelta(minutes=6))


def test_role_change_and_removal_apply_to_live_sessions(users):
    _, token = auth.sign_in(users, "ana", PASSWORD, POLICY)
    auth.set_role(users, "ana", "council", actor="admin1")
    assert auth.resolve(users, token).role == "council"
    auth.remove_user(users, "ana", actor="admin1")
    assert auth.resolve(users, token) == auth.ANONYMOUS
    assert users.rows("SELECT COUNT(*) FROM sessions") == [(0,)]


def test_sign_out_ends_the_session(users):
    who, token = auth.sign_in(users, "ana", PASSWORD, POLICY)
    auth.sign_out(users, token, who)
    assert auth.resolve(users, token) == auth.ANONYMOUS


def test_oidc_identity_uses_the_stored_role_or_the_default(users):
    auth.add_user(users, "Chief@City.gov", "command", None, actor="tests")
    assert auth.oidc_identity(users, {"email": "chief@city.gov"}, "public") == auth.Identity(
        "chief@city.gov", "command", "oidc")
    assert auth.oidc_identity(users, {"email": "someone@city.gov"}, "council").role == "council"
    assert auth.oidc_identity(users, {}, "council") == auth.ANONYMOUS
    # an OIDC-only user has no password and cannot sign in with one
    with pytest.raises(auth.SignInError):
        auth.sign_in(users, "chief@city.gov", "", POLICY)


# ----------------------------------------------------------------------------- settings and audit


def test_runtime_settings_are_checked_audited_and_applied(users):
    auth.set_setting(users, "DASHBOARD_MIN_CELL_COUNT", "10", actor="admin1")
    cfg = config.with_overrides(config.load({}), users.setting_overrides())
    assert cfg.min_cell_count == 10
    with pytest.raises(auth.AccountError, match="DASHBOARD_MIN_CELL_COUNT"):
        auth.set_setting(users, "DASHBOARD_MIN_CELL_COUNT", "2", actor="admin1")
    with pytest.raises(auth.AccountError, match="run time"):
        auth.set_setting(users, "DASHBOARD_DATA_DIR", "/tmp", actor="admin1")
    assert users.setting_overrides() == {"DASHBOARD_MIN_CELL_COUNT": "10"}
    log = users.audit_log()
    change = log[log["action"] == "setting_change"].iloc[0]
    assert (change["actor"], change["target"], change["detail"]) == (
        "admin1", "DASHBOARD_MIN_CELL_COUNT", "(environment) -> 10")


def test_settings_change_moves_the_version_token(users):
    before = users.version_token()
    auth.set_setting(users, "DASHBOARD_PUBLIC_VIEW", "false", actor="admin1")
    assert users.version_token() != before


def test_audit_log_records_who_did_what(users):
    who, token = auth.sign_in(users, "ana", PASSWORD, POLICY)
    with pytest.raises(auth.SignInError):
        auth.sign_in(users, "mallory", "guess guess guess", POLICY)
    auth.sign_out(users, token, who)
    log = users.audit_log()
    rows = set(zip(log["actor"], log["action"], log["outcome"], strict=True))
    assert {("tests", "user_add", "ok"), ("ana", "sign_in", "ok"), ("mallory", "sign_in", "failed"),
            ("ana", "sign_out", "ok")} <= rows
