"""Roles and permissions, password hashing, bind safety, and the users CLI."""
from __future__ import annotations

import io
from dataclasses import dataclass

import bcrypt
import pytest
from hypothesis import given, settings, strategies as st

from serve.records import auth
from serve.records.auth import (PERMISSIONS, Permission, PermissionDenied, Role, UnsafeBind,
                        WeakPassword, can, check_bind_safety, hash_password, is_loopback,
                        is_weak_default, require, validate_password, verify_password)
from serve.records.store import Store
from serve.records.users_cli import main as users_main


@pytest.fixture(autouse=True)
def fast_bcrypt(monkeypatch):
    monkeypatch.setenv(auth.BCRYPT_ROUNDS_ENV, "4")


@dataclass(frozen=True)
class Person:
    name: str
    role: Role


# --- permission table -----------------------------------------------------------------

def test_admin_may_do_everything_and_trainer_all_but_manage_users():
    assert PERMISSIONS[Role.ADMIN] == set(Permission)
    assert PERMISSIONS[Role.TRAINER] == set(Permission) - {Permission.MANAGE_USERS}


def test_officer_permissions_are_exactly_the_field_ones():
    assert PERMISSIONS[Role.OFFICER] == {Permission.IDENTIFY, Permission.LOG_CASE,
                                         Permission.VIEW_OWN_CASES, Permission.TAKE_QUIZ}


@pytest.mark.parametrize("permission", [
    Permission.EDIT_CATALOGUE, Permission.MANAGE_USERS, Permission.LOG_CASE,
    Permission.VIEW_ALL_CASES, Permission.VIEW_OWN_CASES, Permission.UPLOAD_PHOTOS,
    Permission.TRAIN, Permission.PUBLISH, Permission.VIEW_COHORT])
def test_trainee_is_refused(permission):
    trainee = Person("tina", Role.TRAINEE)
    assert not can(trainee, permission)
    with pytest.raises(PermissionDenied) as e:
        require(trainee, permission)
    msg = str(e.value)
    assert "'tina'" in msg and "trainee" in msg and auth.ACTIONS[permission] in msg
    assert e.value.permission is permission and e.value.role is Role.TRAINEE


def test_trainee_may_take_quizzes_and_identify_for_practice():
    require(Person("tina", Role.TRAINEE), Permission.TAKE_QUIZ)
    require(Person("tina", Role.TRAINEE), Permission.IDENTIFY)


def test_every_permission_has_wording_and_every_role_a_row():
    assert set(auth.ACTIONS) == set(Permission)
    assert set(PERMISSIONS) == set(Role)


def test_nobody_signed_in_is_refused_and_role_strings_work():
    with pytest.raises(PermissionDenied, match="sign in"):
        require(None, Permission.IDENTIFY)
    assert can("officer", Permission.LOG_CASE) and not can("officer", Permission.TRAIN)
    with pytest.raises(ValueError, match="'captain'.*officer"):
        can("captain", Permission.IDENTIFY)


# --- passwords ------------------------------------------------------------------------

def test_hash_verifies_and_is_not_the_password():
    h = hash_password("correct horse battery")
    assert "correct horse battery" not in h and h.startswith("$2b$04$")
    assert verify_password("correct horse battery", h)
    assert not verify_password("correct horse batterY", h)
    assert hash_password("correct horse battery") != h  # fresh salt each time


def test_default_cost_is_12(monkeypatch):
    monkeypatch.delenv(auth.BCRYPT_ROUNDS_ENV)
    assert auth.bcrypt_rounds() == 12
    assert hash_password("correct horse battery").startswith("$2b$12$")


def test_bad_cost_setting_is_named(monkeypatch):
    monkeypatch.setenv(auth.BCRYPT_ROUNDS_ENV, "fast")
    with pytest.raises(ValueError, match="WILDLIFE_BCRYPT_ROUNDS='fast'"):
        hash_password("correct horse battery")
    with pytest.raises(ValueError, match="cost 3"):
        hash_password("correct horse battery", rounds=3)


def test_long_passphrases_keep_every_character():
    base = "x" * 100
    h = hash_password(base + "a")
    assert verify_password(base + "a", h) and not verify_password(base + "b", h)


def test_unicode_forms_verify_alike():
    h = hash_password("caf\u00e9-ol\u00e9-2024")            # composed é
    assert verify_password("cafe\u0301-ole\u0301-2024", h)  # decomposed é


@pytest.mark.parametrize("bad, why", [("", "empty"), ("        ", "empty"), ("short", "5 char")])
def test_empty_and_short_passwords_refused(bad, why):
    with pytest.raises(WeakPassword, match=why):
        validate_password(bad)
    with pytest.raises(WeakPassword):
        hash_password(bad)


def test_malformed_hash_does_not_verify():
    assert not verify_password("whatever123", "not a hash")
    assert not verify_password("whatever123", "")


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=8, max_size=40).filter(lambda s: s.strip()))
def test_any_valid_password_round_trips(password):
    h = bcrypt.hashpw(auth._prehash(password), bcrypt.gensalt(4)).decode()
    assert verify_password(password, h)
    assert not verify_password(password + "!", h)


@pytest.mark.parametrize("pw", [None, "", "admin", "Password", "changeme", "CHANGEME",
                                "12345678", "aaaaaaaaaa", "short"])
def test_weak_defaults_detected(pw):
    assert is_weak_default(pw)


@pytest.mark.parametrize("pw", ["correct horse battery", "Tr4de-Watch!2031"])
def test_strong_passwords_not_flagged(pw):
    assert not is_weak_default(pw)


# --- bind safety ----------------------------------------------------------------------

@pytest.mark.parametrize("host", ["0.0.0.0", "", "::", "192.168.1.20", "customs.example"])
def test_weak_admin_on_network_address_refused(host):
    with pytest.raises(UnsafeBind, match="admin password"):
        check_bind_safety(host, admin_password_is_default_or_empty=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "localhost", "::1", "[::1]"])
def test_loopback_is_allowed_even_with_weak_admin(host):
    assert is_loopback(host)
    check_bind_safety(host, admin_password_is_default_or_empty=True)


def test_strong_admin_may_listen_anywhere():
    check_bind_safety("0.0.0.0", admin_password_is_default_or_empty=False)


# --- users CLI ------------------------------------------------------------------------

def _cli(monkeypatch, capsys, argv, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    rc = users_main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_add_then_authenticate(tmp_path, monkeypatch, capsys):
    db = f"sqlite:///{tmp_path}/records.db"
    rc, out, _ = _cli(monkeypatch, capsys, ["users", "add", "ana", "--role", "officer",
                                            "--language", "fr", "--db", db],
                      "correct horse battery\nignored second line\n")
    assert rc == 0 and "added ana" in out
    with Store.open(db) as store:
        user = store.authenticate("ana", "correct horse battery")
        assert user is not None and user.role is Role.OFFICER and user.language == "fr"
        assert store.authenticate("ana", "ignored second line") is None
        assert [e.action for e in store.audit_log()] == ["user.add"]


def test_cli_refuses_empty_and_short_passwords(tmp_path, monkeypatch, capsys):
    db = f"sqlite:///{tmp_path}/records.db"
    for stdin in ("", "\n", "short\n"):
        rc, _, err = _cli(monkeypatch, capsys, ["add", "ana", "--role", "officer", "--db", db],
                          stdin)
        assert rc == 1 and "password" in err
    with Store.open(db) as store:
        assert store.list_users() == []


def test_cli_reset_and_list(tmp_path, monkeypatch, capsys):
    db = f"sqlite:///{tmp_path}/records.db"
    assert _cli(monkeypatch, capsys, ["--db", db, "add", "root", "--role", "admin"],
                "changeme\n")[0] == 0
    rc, out, err = _cli(monkeypatch, capsys, ["--db", db, "list"])
    assert rc == 0 and "root\tadmin\ten" in out and "WEAK" in out
    rc, out, _ = _cli(monkeypatch, capsys, ["reset", "root", "--db", db], "Tr4de-Watch!2031\n")
    assert rc == 0 and "password changed" in out
    with Store.open(db) as store:
        assert store.authenticate("root", "Tr4de-Watch!2031") is not None
        assert store.authenticate("root", "changeme") is None
        assert not store.admin_password_is_default_or_empty()


def test_cli_errors(tmp_path, monkeypatch, capsys):
    db = f"sqlite:///{tmp_path}/records.db"
    rc, _, err = _cli(monkeypatch, capsys, ["reset", "ghost", "--db", db], "Tr4de-Watch!2031\n")
    assert rc == 1 and "'ghost'" in err
    rc, _, err = _cli(monkeypatch, capsys, ["add", "ana", "--role", "captain", "--db", db])
    assert rc == 2 and "captain" in err
    _cli(monkeypatch, capsys, ["add", "ana", "--role", "officer", "--db", db], "Tr4de-Watch!2031\n")
    rc, _, err = _cli(monkeypatch, capsys, ["add", "ana", "--role", "officer", "--db", db],
                      "Tr4de-Watch!2031\n")
    assert rc == 1 and "already exists" in err
