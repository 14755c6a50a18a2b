"""Staff accounts: roles and what they allow, scrypt password hashes, sessions, the audit log.

Passwords are stored as scrypt hashes (memory-hard, from the standard library) with a random salt.
A session is a random token in an HttpOnly cookie; only its SHA-256 is stored. Sessions end after
``IDLE`` without use or ``ABSOLUTE`` after login. Each session has its own CSRF token that every
form posts back.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import (
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.errors import LegalTriageError
from bot.storage.schema import audit_log, sessions, users


class Role(str, Enum):
    STAFF = "staff"  # 司法所 / legal-aid centre
    MEDIATOR = "mediator"
    PUBLICITY = "publicity"  # 普法宣传
    ADMIN = "admin"


ROLE_LABELS = {
    Role.STAFF: "司法所/法援工作人员",
    Role.MEDIATOR: "调解员",
    Role.PUBLICITY: "普法宣传",
    Role.ADMIN: "管理员",
}
#: What each role may do; pages and actions check these, never the role name.
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.STAFF: frozenset({"escalations", "applications", "bookings", "stats"}),
    Role.MEDIATOR: frozenset({"escalations", "bookings", "stats"}),
    Role.PUBLICITY: frozenset({"faq", "stats"}),
    Role.ADMIN: frozenset({"escalations", "applications", "bookings", "faq", "stats", "users"}),
}
MIN_PASSWORD = 10
IDLE = dt.timedelta(minutes=30)
ABSOLUTE = dt.timedelta(hours=12)
#: Password guessing: after ``MAX_FAILURES`` failed logins of one username within ``FAILURE_WINDOW``,
#: that username cannot log in until the window has passed; after ``MAX_IP_FAILURES`` from one
#: address (whatever the usernames), that address cannot; after ``MAX_GLOBAL_FAILURES`` failures
#: over all usernames and addresses within a minute, nobody can for that minute. Counted from the
#: audit log, so it holds across restarts and instances.
MAX_FAILURES = 5
MAX_IP_FAILURES = 20
MAX_GLOBAL_FAILURES = 60
FAILURE_WINDOW = dt.timedelta(minutes=15)
GLOBAL_WINDOW = dt.timedelta(minutes=1)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class AccountError(LegalTriageError):
    default_message = "account error"


class LoginThrottled(AccountError):
    default_message = "too many failed logins (this username, this address, or over all); try again later"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt)}${b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    role: Role
    active: bool = True
    committees: tuple[str, ...] = ()

    def can(self, permission: str) -> bool:
        return self.active and permission in PERMISSIONS[self.role]

    @property
    def committee_scope(self) -> tuple[str, ...] | None:
        """The committees whose bookings and schedules a mediator sees; None = all (other roles)."""
        return self.committees if self.role is Role.MEDIATOR else None


def _user(row) -> User:
    committees = tuple(c for c in (row["committees"] or "").split(",") if c)
    return User(row["username"], row["display_name"], Role(row["role"]), row["active"], committees)


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str


@dataclass(frozen=True)
class AuditEntry:
    at: dt.datetime
    username: str
    action: str
    target: str | None
    detail: str | None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Accounts, sessions and the audit log in the project database (tables from migration 0003)."""

    def __init__(self, engine: Engine, clock=dt.datetime.now) -> None:
        self._engine = engine
        self._clock = clock

    def now(self) -> dt.datetime:
        """The accounts' clock (sessions, throttling, token expiry)."""
        return self._clock()

    # ---- users ----------------------------------------------------------------------------
    def create(
        self,
        username: str,
        password: str,
        role: Role,
        display_name: str = "",
        by: str = "cli",
        committees: tuple[str, ...] = (),
    ) -> User:
        username = username.strip()
        if not username or len(username) > 64:
            raise AccountError("用户名不能为空，且不超过64个字符")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"密码至少{MIN_PASSWORD}位")
        user = User(username, display_name.strip() or username, Role(role), True, tuple(committees))
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(users).values(
                        username=user.username,
                        display_name=user.display_name,
                        role=user.role.value,
                        password_hash=hash_password(password),
                        active=True,
                        created_at=self._clock(),
                        committees=",".join(user.committees) or None,
                    )
                )
        except IntegrityError:
            raise AccountError(f"用户名 {username} 已存在") from None
        self.audit(by, "user_create", username, user.role.value)
        return user

    def get(self, username: str) -> User | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
        return _user(row) if row else None

    def all(self) -> list[User]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(users).order_by(users.c.id)).mappings().all()
        return [_user(r) for r in rows]

    # ---- changes by an administrator (each ends the user's sessions and is audited) ----------
    def set_active(self, username: str, active: bool, by: str) -> User:
        """Enable or disable an account; a disabled user is logged out at once."""
        if by == username and not active:
            raise AccountError("不能停用自己的账号")
        return self._change(username, {"active": active}, by, "user_enable" if active else "user_disable", None)

    def reset_password(self, username: str, password: str, by: str) -> User:
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"密码至少{MIN_PASSWORD}位")
        return self._change(username, {"password_hash": hash_password(password)}, by, "user_password", None)

    def set_role(self, username: str, role: Role, committees: tuple[str, ...], by: str) -> User:
        """Change the role (and a mediator's committees, which only a mediator has)."""
        role = Role(role)
        committees = tuple(committees) if role is Role.MEDIATOR else ()
        if role is Role.MEDIATOR and not committees:
            raise AccountError("调解员需要选择所属的调解委员会")
        if by == username and role is not Role.ADMIN:
            raise AccountError("不能取消自己的管理员角色")
        values = {"role": role.value, "committees": ",".join(committees) or None}
        return self._change(username, values, by, "user_role", " ".join((role.value, *committees)))

    def _change(self, username: str, values: dict, by: str, action: str, detail: str | None) -> User:
        with self._engine.begin() as conn:
            done = conn.execute(update(users).where(users.c.username == username).values(**values))
            if done.rowcount != 1:
                raise AccountError(f"没有账号 {username}")
            conn.execute(delete(sessions).where(sessions.c.username == username))
        self.audit(by, action, username, detail)
        user = self.get(username)
        if user is None:  # deleted between the update and the read
            raise AccountError(f"没有账号 {username}")
        return user

    def any_admin(self) -> bool:
        with self._engine.connect() as conn:
            return conn.execute(select(users.c.id).where(users.c.role == Role.ADMIN.value).limit(1)).first() is not None

    # ---- sessions -------------------------------------------------------------------------
    def login(self, username: str, password: str, ip: str = "") -> tuple[str, Session] | None:
        """A new session token for valid credentials, else None (the same for unknown users).

        Blocking (scrypt, the database): web routes call it from a worker thread.

        Raises:
            LoginThrottled: too many recent failures for this username, from this address ``ip``, or
                over all (the password is not checked).
        """
        name, now = username.strip()[:64] or "?", self._clock()
        source = f"ip:{ip[:60]}" if ip else None
        failed = select(func.count()).select_from(audit_log).where(audit_log.c.action == "login_failed")
        with self._engine.connect() as conn:

            def count(*where) -> int:
                return conn.execute(failed.where(*where)).scalar_one()

            recent = audit_log.c.at > now - FAILURE_WINDOW
            if (
                count(recent, audit_log.c.username == name) >= MAX_FAILURES
                or (source and count(recent, audit_log.c.target == source) >= MAX_IP_FAILURES)
                or count(audit_log.c.at > now - GLOBAL_WINDOW) >= MAX_GLOBAL_FAILURES
            ):
                raise LoginThrottled()
            row = conn.execute(select(users).where(users.c.username == username.strip())).mappings().first()
        stored = row["password_hash"] if row else hash_password(secrets.token_hex(8))  # same work either way
        if not row or not row["active"] or not verify_password(password, stored):
            self.audit(name, "login_failed", source, None)
            return None
        token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(24), self._clock()
        with self._engine.begin() as conn:
            conn.execute(
                insert(sessions).values(
                    token_hash=_token_hash(token), username=row["username"], csrf=csrf, created_at=now, last_seen=now
                )
            )
        self.audit(row["username"], "login", None, None)
        return token, Session(_user(row), csrf)

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie token (touching it), or None when unknown or expired."""
        if not token:
            return None
        now = self._clock()
        with self._engine.begin() as conn:
            row = (
                conn.execute(
                    select(sessions, users.c.display_name, users.c.role, users.c.active, users.c.committees)
                    .join(users, users.c.username == sessions.c.username)
                    .where(sessions.c.token_hash == _token_hash(token))
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            if not row["active"] or now - row["last_seen"] > IDLE or now - row["created_at"] > ABSOLUTE:
                conn.execute(delete(sessions).where(sessions.c.token_hash == row["token_hash"]))
                return None
            conn.execute(update(sessions).where(sessions.c.token_hash == row["token_hash"]).values(last_seen=now))
        return Session(_user(row), row["csrf"])

    def logout(self, token: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.token_hash == _token_hash(token)))

    # ---- audit ----------------------------------------------------------------------------
    def audit(self, username: str, action: str, target: str | None, detail: str | None) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(audit_log).values(
                    at=self._clock(), username=username, action=action, target=target, detail=detail
                )
            )

    def prune(self, audit_before: dt.datetime) -> dict[str, int]:
        """Delete expired sessions and audit rows older than ``audit_before`` (retention)."""
        now = self._clock()
        with self._engine.begin() as conn:
            expired = or_(sessions.c.last_seen < now - IDLE, sessions.c.created_at < now - ABSOLUTE)
            return {
                "staff_sessions": conn.execute(delete(sessions).where(expired)).rowcount,
                "audit_log": conn.execute(delete(audit_log).where(audit_log.c.at < audit_before)).rowcount,
            }

    def audit_entries(self, limit: int = 200) -> list[AuditEntry]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)).mappings().all()
        return [AuditEntry(r["at"], r["username"], r["action"], r["target"], r["detail"]) for r in rows]
