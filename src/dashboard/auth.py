"""Sign-in: the built-in user store (scrypt password hashes), sessions, throttling and lockout, the
OpenID Connect identity mapping, run-time settings, and the audit entries all of these write.

Users, sessions, failures, settings and the audit log live in the store (store.py holds the tables);
this module decides. It must not import Streamlit, log or return a password or a session token in
clear anywhere but to the caller that signed in, or trust a role it did not read from the store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from dashboard import access, config
from dashboard.errors import DashboardError
from dashboard.store import AUDIT_SQL, Store

# scrypt is memory-hard: n=2**15, r=8 needs 32 MB per hash and ~0.1 s here, which makes guessing
# offline from a stolen store slow while a sign-in still feels instant.
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**15, 8, 1, 32
MIN_PASSWORD_LENGTH = 12
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@+-]{1,99}$")


class SignInError(DashboardError):
    default_title = "Sign-in failed"


class AccountError(DashboardError):
    default_title = "User not changed"


@dataclass(frozen=True)
class Identity:
    username: str
    role: str
    method: str  # "anonymous", "password" or "oidc"

    @property
    def signed_in(self) -> bool:
        return self.method != "anonymous"

    @property
    def label(self) -> str:
        return f"{self.username} ({access.ROLE_LABELS[self.role]})" if self.signed_in else "Not signed in"


ANONYMOUS = Identity("anonymous", access.ANONYMOUS, "anonymous")


@dataclass(frozen=True)
class Policy:
    max_failures: int = 5
    lockout_minutes: float = 15.0
    session_hours: float = 12.0
    first_delay_s: float = 1.0

    @classmethod
    def from_config(cls, cfg: config.Config) -> Policy:
        return cls(cfg.lockout_attempts, cfg.lockout_minutes, cfg.session_hours)


# ------------------------------------------------------------------------------------- passwords


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=SCRYPT_LEN, maxmem=128 * 1024 * 1024)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    """Constant-time check of ``password`` against a ``hash_password`` string; False for anything malformed."""
    try:
        algo, n, r, p, salt, digest = (stored or "").split("$")
        if algo != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(expected), maxmem=128 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


# Verified against when the user name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(message=f"The password has {len(password)} characters; at least "
                                   f"{MIN_PASSWORD_LENGTH} are needed.",
                           hint="Use a passphrase of several words.")


def normalise_username(username: str) -> str:
    return username.strip().lower()


def check_username(username: str) -> str:
    name = normalise_username(username)
    if not USERNAME_RE.match(name):
        raise AccountError(message=f"{username!r} is not a valid user name.",
                           hint="Use 2–100 letters, digits and . _ @ + - (an e-mail address works).")
    return name


# ------------------------------------------------------------------------------- throttle, lockout


def wait_seconds(failures: int, last_failure: datetime | None, locked_until: datetime | None, now: datetime,
                 policy: Policy) -> float:
    """Seconds before this user name may try again: locked for ``lockout_minutes`` after
    ``max_failures`` failures in a row, and before that 1, 2, 4, ... s after each failure."""
    if locked_until is not None and now < locked_until:
        return (locked_until - now).total_seconds()
    if failures <= 0 or last_failure is None or failures >= policy.max_failures:
        return 0.0
    ready = last_failure + timedelta(seconds=policy.first_delay_s * 2 ** (failures - 1))
    return max(0.0, (ready - now).total_seconds())


def _failure_state(store: Store, username: str) -> tuple[int, datetime | None, datetime | None]:
    rows = store.rows("SELECT failures, last_failure, locked_until FROM sign_in_failures WHERE username = ?",
                      [username])
    return rows[0] if rows else (0, None, None)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def sign_in(store: Store, username: str, password: str, policy: Policy,
            now: datetime | None = None) -> tuple[Identity, str]:
    """Check a built-in user's password; return the identity and a new session token.

    Raises SignInError for a wrong name or password (the same message for both), while throttled, and
    while locked. Every attempt is audited; the password never is.
    """
    now = now or datetime.now()
    name = normalise_username(username)[:100]
    failures, last, locked = _failure_state(store, name)
    if locked is not None and now >= locked:  # lock over: start counting afresh
        failures, last, locked = 0, None, None
    wait = wait_seconds(failures, last, locked, now, policy)
    if wait > 0:
        store.audit(name, "", "sign_in", detail="refused while locked" if locked else "refused while throttled",
                    outcome="refused", at=now)
        if locked:
            raise SignInError("Account locked",
                              f"Too many failed sign-ins for this user name. Try again in "
                              f"{math.ceil(wait / 60)} minute(s).",
                              hint="Ask an administrator to unlock it: python -m dashboard users unlock NAME")
        raise SignInError("Too many attempts", f"Wait {math.ceil(wait)} s before trying again.",
                          hint="Each failed sign-in doubles the wait.")
    user = store.rows("SELECT role, password_hash FROM users WHERE username = ?", [name])
    stored = user[0][1] if user else None
    ok = verify_password(password, stored or _DUMMY_HASH) and stored is not None
    if not ok:
        failures += 1
        locked = now + timedelta(minutes=policy.lockout_minutes) if failures >= policy.max_failures else None
        store.write([
            ("DELETE FROM sign_in_failures WHERE username = ?", [name]),
            ("INSERT INTO sign_in_failures VALUES (?, ?, ?, ?)", [name, failures, now, locked]),
            (AUDIT_SQL, [now, name, "", "sign_in", "", f"failure {failures}" + (", locked" if locked else ""),
                         "failed"]),
        ])
        raise SignInError(message="Unknown user name or wrong password.",
                          hint="Check both and try again; repeated failures lock the user name for a while.")
    role = access.check_role(user[0][0])
    token = secrets.token_urlsafe(32)
    store.write([
        ("DELETE FROM sign_in_failures WHERE username = ?", [name]),
        ("DELETE FROM sessions WHERE expires_at < ?", [now]),
        ("INSERT INTO sessions VALUES (?, ?, ?, ?)",
         [_token_hash(token), name, now, now + timedelta(hours=policy.session_hours)]),
        (AUDIT_SQL, [now, name, role, "sign_in", "", "password", "ok"]),
    ])
    return Identity(name, role, "password"), token


def resolve(store: Store, token: str | None, now: datetime | None = None) -> Identity:
    """The identity behind a session token, with the role as stored *now* (so a role change or removal
    applies on the user's next click); ANONYMOUS for a missing, unknown or expired token."""
    if not token or not isinstance(token, str):
        return ANONYMOUS
    rows = store.rows("SELECT u.username, u.role FROM sessions s JOIN users u ON u.username = s.username "
                      "WHERE s.token_hash = ? AND s.expires_at > ?", [_token_hash(token), now or datetime.now()])
    if not rows or rows[0][1] not in access.ROLES:
        return ANONYMOUS
    return Identity(rows[0][0], rows[0][1], "password")


def sign_out(store: Store, token: str | None, identity: Identity) -> None:
    if token:
        store.write([("DELETE FROM sessions WHERE token_hash = ?", [_token_hash(token)]),
                     (AUDIT_SQL, [datetime.now(), identity.username, identity.role, "sign_out", "", "", "ok"])])


def oidc_identity(store: Store, user_info: Mapping[str, object], default_role: str) -> Identity:
    """An OpenID Connect user (``st.user``): the role stored for their e-mail, else ``default_role``."""
    email = normalise_username(str(user_info.get("email") or user_info.get("sub") or ""))
    if not email:
        return ANONYMOUS
    rows = store.rows("SELECT role FROM users WHERE username = ?", [email])
    role = rows[0][0] if rows and rows[0][0] in access.ROLES else access.check_role(default_role)
    return Identity(email, role, "oidc")


# ------------------------------------------------------------------------------------- managing users


def add_user(store: Store, username: str, role: str, password: str | None, actor: str,
             actor_role: str = "admin") -> str:
    """Add a user (``password`` None: an OpenID Connect user who signs in with the identity provider)."""
    name = check_username(username)
    access.check_role(role)
    if password is not None:
        check_password(password)
    if store.rows("SELECT 1 FROM users WHERE username = ?", [name]):
        raise AccountError(message=f"User {name!r} exists already.",
                           hint="Use set-role to change their role, or remove them first.")
    now = datetime.now()
    store.write([
        ("INSERT INTO users VALUES (?, ?, ?, ?, ?)",
         [name, role, hash_password(password) if password is not None else None, now, now]),
        (AUDIT_SQL, [now, actor, actor_role, "user_add", name, f"role {role}" + ("" if password else ", OIDC"),
                     "ok"]),
    ])
    return name


def _existing(store: Store, username: str) -> str:
    name = normalise_username(username)
    if not store.rows("SELECT 1 FROM users WHERE username = ?", [name]):
        raise AccountError(message=f"There is no user {name!r}.", hint="List users with: python -m dashboard users list")
    return name


def set_role(store: Store, username: str, role: str, actor: str, actor_role: str = "admin") -> None:
    name = _existing(store, username)
    access.check_role(role)
    now = datetime.now()
    store.write([("UPDATE users SET role = ?, updated_at = ? WHERE username = ?", [role, now, name]),
                 (AUDIT_SQL, [now, actor, actor_role, "user_set_role", name, f"role {role}", "ok"])])


def set_password(store: Store, username: str, password: str, actor: str, actor_role: str = "admin") -> None:
    name = _existing(store, username)
    check_password(password)
    now = datetime.now()
    store.write([("UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?",
                  [hash_password(password), now, name]),
                 ("DELETE FROM sessions WHERE username = ?", [name]),
                 (AUDIT_SQL, [now, actor, actor_role, "user_set_password", name, "", "ok"])])


def remove_user(store: Store, username: str, actor: str, actor_role: str = "admin") -> None:
    name = _existing(store, username)
    now = datetime.now()
    store.write([("DELETE FROM sessions WHERE username = ?", [name]),
                 ("DELETE FROM users WHERE username = ?", [name]),
                 (AUDIT_SQL, [now, actor, actor_role, "user_remove", name, "", "ok"])])


def unlock(store: Store, username: str, actor: str, actor_role: str = "admin") -> None:
    name = normalise_username(username)
    now = datetime.now()
    store.write([("DELETE FROM sign_in_failures WHERE username = ?", [name]),
                 (AUDIT_SQL, [now, actor, actor_role, "user_unlock", name, "", "ok"])])


def users(store: Store, now: datetime | None = None) -> pd.DataFrame:
    """Every user with role, sign-in method and lock state; never a password hash."""
    rows = store.rows(
        "SELECT u.username, u.role, u.password_hash IS NOT NULL, u.created_at, u.updated_at, "
        "COALESCE(f.failures, 0), f.locked_until FROM users u "
        "LEFT JOIN sign_in_failures f ON f.username = u.username ORDER BY u.username")
    now = now or datetime.now()
    return pd.DataFrame(
        [{"username": r[0], "role": r[1], "sign_in": "password" if r[2] else "OpenID Connect",
          "created_at": r[3], "updated_at": r[4], "failed_sign_ins": int(r[5]),
          "locked": bool(r[6] is not None and r[6] > now)} for r in rows],
        columns=["username", "role", "sign_in", "created_at", "updated_at", "failed_sign_ins", "locked"])


# ------------------------------------------------------------------------------ run-time settings


def set_setting(store: Store, name: str, value: str, actor: str, actor_role: str = "admin") -> None:
    """Store a run-time setting after checking it converts; audited with the old and new value."""
    if name not in config.RUNTIME_SETTINGS:
        raise AccountError("Setting not changed", f"{name} cannot be changed at run time.",
                           hint="Set it in the environment and restart: see the settings table in docs/operations.md.")
    try:
        config.setting(name).convert(value)
    except ValueError as exc:
        raise AccountError("Setting not changed", f"{name}={value!r}: {exc}.", hint=config.setting(name).help) from exc
    old = store.setting_overrides().get(name, "(environment)")
    now = datetime.now()
    store.write([("DELETE FROM app_settings WHERE name = ?", [name]),
                 ("INSERT INTO app_settings VALUES (?, ?, ?, ?)", [name, value, now, actor]),
                 (AUDIT_SQL, [now, actor, actor_role, "setting_change", name, f"{old} -> {value}", "ok"])])
