"""Authentication and RBAC against a server of its own per test (auth is cluster-wide).

Seen on every version of the matrix (3.3.25, 3.4.23, 3.5.1, 3.5.16, 3.5.30): a request
without a token once auth is on fails with ErrUserEmpty (InvalidArgument, HTTP 400); a
garbage token gets ErrInvalidAuthToken (Unauthenticated, 401); a wrong password gets
ErrAuthFailed (InvalidArgument, 400); ErrUserNotFound / ErrRoleNotFound /
ErrRootUserNotExist are FailedPrecondition, HTTP 412 up to 3.4 and 400 from 3.5.
UserAdd through the gateway works on 3.3.25 with just ``name`` and ``password``
(etcd #11414 was about 3.4.0-3.4.3, where ``options`` was missing).
"""
from __future__ import annotations

import requests
import pytest

from conftest import make_client
from etcd3 import errors
from etcd3.testing.server import supported_flags
from helpers import version_at_least, wait_for

ROOT_PASSWORD = "r00t-s3cret-pw"
USER_PASSWORD = "al1ce-s3cret-pw"


def enable_auth(server):
    """root user with the root role, auth on; returns a client without credentials
    (made before auth was enabled) and a root client."""
    admin = make_client(server)
    admin.user_add(name="root", password=ROOT_PASSWORD)
    admin.role_add(name="root")
    admin.user_grant_role(user="root", role="root")
    admin.auth_enable()
    root = make_client(server, username="root", password=ROOT_PASSWORD)
    return admin, root


@pytest.fixture
def auth_server(fresh_etcd):
    admin, root = enable_auth(fresh_etcd)
    yield fresh_etcd, admin, root
    admin.close()
    root.close()


def add_user_with_prefix_role(root, user="alice", role="app-rw", perm="READWRITE", prefix="app/"):
    root.user_add(name=user, password=USER_PASSWORD)
    root.role_add(name=role)
    root.role_grant_permission(name=role, perm={"permType": perm, "key": prefix, "range_end": prefix[:-1] + "0"})
    root.user_grant_role(user=user, role=role)


# --------------------------------------------------------------------------- enabling

def test_auth_enable_without_root_user(fresh_etcd):
    client = make_client(fresh_etcd)
    with pytest.raises(errors.ErrRootUserNotExist) as info:
        client.auth_enable()
    assert isinstance(info.value, errors.FailedPrecondition)
    assert info.value.http_status == (400 if version_at_least(fresh_etcd.version, "3.5") else 412)
    client.put("still/open", "yes")  # auth stayed off


def test_user_add_and_authenticate(fresh_etcd):
    # etcd #11414: UserAdd through the gateway was broken in 3.4.0-3.4.3; check the
    # password really is stored by authenticating with it
    client = make_client(fresh_etcd)
    client.user_add(name="root", password=ROOT_PASSWORD)
    client.role_add(name="root")
    client.user_grant_role(user="root", role="root")
    assert client.user_get(name="root").roles == ["root"]
    client.auth_enable()
    token = client.authenticate(name="root", password=ROOT_PASSWORD).token
    assert token
    with_token = make_client(fresh_etcd, token=token)
    assert with_token.range("k").count == 0


def test_no_credentials_after_auth_enable(auth_server):
    server, admin, root = auth_server
    with pytest.raises(errors.Etcd3APIError) as info:
        admin.range("k")
    # the same on every version of the matrix: the gateway sends no user at all
    assert isinstance(info.value, errors.ErrUserEmpty), type(info.value).__mro__
    assert isinstance(info.value, errors.InvalidArgument) and info.value.http_status == 400
    with pytest.raises(errors.ErrUserEmpty):
        admin.put("k", "v")
    fresh = make_client(server)  # a new client reads /version fine without a token
    assert fresh.server_version == server.version
    with pytest.raises(errors.ErrUserEmpty):
        fresh.range("k")


def test_root_with_password_works(auth_server):
    server, admin, root = auth_server
    assert root.token is None  # authenticates on the first call
    root.put("k", "v")
    assert root.token
    assert root.range("k").kvs[0].value == b"v"
    assert "root" in [u for u in root.user_list().users]
    if "auth_status" in root.operations:
        status = root.auth_status()
        assert status.enabled is True and status.authRevision > 0


def test_auth_method_sets_the_token(auth_server):
    server, admin, root = auth_server
    admin.auth("root", ROOT_PASSWORD)
    assert admin.token
    assert admin.username == "root"
    admin.put("k", "v")
    assert admin.range("k").count == 1


def test_garbage_token_is_invalid_auth_token(auth_server):
    server, admin, root = auth_server
    client = make_client(server, token="not-a-token")
    with pytest.raises(errors.ErrInvalidAuthToken) as info:
        client.range("k")
    assert isinstance(info.value, errors.Unauthenticated) and info.value.http_status == 401


def test_wrong_password_is_auth_failed(auth_server):
    server, admin, root = auth_server
    client = make_client(server, username="root", password="wrong")
    with pytest.raises(errors.ErrAuthFailed) as info:
        client.range("k")
    assert isinstance(info.value, errors.InvalidArgument)
    assert "wrong" not in str(info.value) and "wrong" not in repr(info.value)
    with pytest.raises(errors.ErrAuthFailed):
        admin.authenticate(name="nobody", password="x")


def test_authenticate_with_auth_disabled_is_auth_not_enabled(fresh_etcd):
    client = make_client(fresh_etcd)
    with pytest.raises(errors.ErrAuthNotEnabled) as info:
        client.authenticate(name="root", password="x")
    assert isinstance(info.value, errors.FailedPrecondition)


def test_credentials_with_auth_disabled_still_work(fresh_etcd):
    # like etcd's Go client: ErrAuthNotEnabled from the implicit authenticate is not fatal
    client = make_client(fresh_etcd, username="root", password=ROOT_PASSWORD)
    client.put("k", "v")
    assert client.range("k").count == 1


def test_auth_disable(auth_server):
    server, admin, root = auth_server
    root.auth_disable()
    assert admin.range("k").count == 0  # no token needed any more
    if "auth_status" in admin.operations:
        assert admin.auth_status().enabled is False


# --------------------------------------------------------------------------- RBAC

def test_prefix_role_read_write_and_denied_elsewhere(auth_server):
    server, admin, root = auth_server
    add_user_with_prefix_role(root)
    root.put("other/k", "root's")
    alice = make_client(server, username="alice", password=USER_PASSWORD)
    alice.put("app/x", "1")
    assert alice.range("app/", prefix=True).kvs[0].value == b"1"
    assert alice.delete_range("app/x").deleted == 1
    with pytest.raises(errors.ErrPermissionDenied) as info:
        alice.put("other/k", "alice's")
    assert isinstance(info.value, errors.PermissionDenied)
    assert (info.value.code, info.value.http_status) == (7, 403)
    with pytest.raises(errors.ErrPermissionDenied):
        alice.range("other/k")
    with pytest.raises(errors.ErrPermissionDenied):
        alice.range(all=True)  # wider than the grant
    with pytest.raises(errors.ErrPermissionDenied):
        alice.user_list()  # auth admin is root only
    assert root.range("other/k").kvs[0].value == b"root's"


def test_read_only_role(auth_server):
    server, admin, root = auth_server
    root.put("ro/k", "v")
    add_user_with_prefix_role(root, user="bob", role="ro", perm="READ", prefix="ro/")
    bob = make_client(server, username="bob", password=USER_PASSWORD)
    assert bob.range("ro/k").kvs[0].value == b"v"
    with pytest.raises(errors.ErrPermissionDenied):
        bob.put("ro/k", "w")


def test_user_and_role_queries(auth_server):
    server, admin, root = auth_server
    add_user_with_prefix_role(root)
    assert sorted(root.user_list().users) == ["alice", "root"]
    assert sorted(root.role_list().roles) == ["app-rw", "root"]
    assert root.user_get(name="alice").roles == ["app-rw"]
    perms = root.role_get(role="app-rw").perm
    assert len(perms) == 1
    assert perms[0].key == b"app/" and perms[0].range_end == b"app0"
    assert perms[0].permType.name == "READWRITE"


def test_revoke_permission_role_and_delete(auth_server):
    server, admin, root = auth_server
    add_user_with_prefix_role(root)
    alice = make_client(server, username="alice", password=USER_PASSWORD)
    alice.put("app/k", "v")
    root.role_revoke_permission(role="app-rw", key="app/", range_end="app0")
    assert root.role_get(role="app-rw").perm is None
    with pytest.raises(errors.ErrPermissionDenied):
        alice.put("app/k", "w")
    root.role_grant_permission(name="app-rw", perm={"permType": "READWRITE", "key": "app/", "range_end": "app0"})
    alice.put("app/k", "w")
    root.user_revoke_role(name="alice", role="app-rw")
    assert root.user_get(name="alice").roles is None
    with pytest.raises(errors.ErrPermissionDenied):
        alice.put("app/k", "x")
    with pytest.raises(errors.ErrRoleNotGranted):
        root.user_revoke_role(name="alice", role="app-rw")
    root.user_delete(name="alice")
    assert root.user_list().users == ["root"]
    root.role_delete(role="app-rw")
    assert root.role_list().roles == ["root"]
    with pytest.raises(errors.ErrAuthFailed):
        make_client(server, username="alice", password=USER_PASSWORD).range("app/k")


def test_not_found_errors(auth_server):
    server, admin, root = auth_server
    status = 400 if version_at_least(server.version, "3.5") else 412
    with pytest.raises(errors.ErrUserNotFound) as info:
        root.user_get(name="nobody")
    assert isinstance(info.value, errors.FailedPrecondition) and info.value.http_status == status
    with pytest.raises(errors.ErrUserNotFound):
        root.user_delete(name="nobody")
    with pytest.raises(errors.ErrRoleNotFound) as info:
        root.role_get(role="nothing")
    assert isinstance(info.value, errors.FailedPrecondition) and info.value.http_status == status
    with pytest.raises(errors.ErrRoleNotFound):
        root.user_grant_role(user="root", role="nothing")
    with pytest.raises(errors.ErrUserAlreadyExist):
        root.user_add(name="root", password="x")
    with pytest.raises(errors.ErrRoleAlreadyExist):
        root.role_add(name="root")


def test_change_password(auth_server):
    server, admin, root = auth_server
    add_user_with_prefix_role(root)
    root.user_change_password(name="alice", password="n3w-pw")
    with pytest.raises(errors.ErrAuthFailed):
        make_client(server, username="alice", password=USER_PASSWORD).range("app/k")
    assert make_client(server, username="alice", password="n3w-pw").range("app/k").count == 0


# --------------------------------------------------------------------------- tokens

def token_ttl_supported(etcd_version):
    from etcd3.testing.server import ensure_etcd

    return "--auth-token-ttl" in supported_flags(ensure_etcd(etcd_version))


@pytest.fixture
def short_token_server(etcd_version, request):
    if not token_ttl_supported(etcd_version):
        pytest.skip("etcd %s has no --auth-token-ttl" % etcd_version)
    return request.getfixturevalue("fresh_etcd")


def raw_range(server, token):
    return requests.post(server.endpoint + server.api_prefix + "/kv/range", json={"key": "aw=="},
                         headers={"Authorization": token}, timeout=5,
                         proxies={"http": None, "https": None})


@pytest.mark.etcd_args(auth_token_ttl=2)
def test_expired_token_is_refreshed_and_the_call_replayed(short_token_server):
    server = short_token_server
    admin, root = enable_auth(server)
    root.put("k", "v1")
    old = root.token
    assert raw_range(server, old).status_code == 200
    # each use of a simple token restarts its TTL: probe less often than the TTL
    wait_for(lambda: raw_range(server, old).status_code != 200, timeout=30, interval=3,
             message="the token to expire")
    expired = raw_range(server, old)
    assert expired.status_code == 401 and b"invalid auth token" in expired.content, \
        (expired.status_code, expired.content)
    # the client still holds the expired token: it re-authenticates once and replays
    assert root.token == old
    assert root.range("k").kvs[0].value == b"v1"
    assert root.token and root.token != old
    # a write is replayed too, and goes through exactly once
    wait_for(lambda: raw_range(server, root.token).status_code != 200, timeout=30, interval=3,
             message="the second token to expire")
    root.put("k", "v2")
    assert root.range("k").kvs[0].version == 2


# --------------------------------------------------------------------------- secrets stay secret

def test_repr_and_errors_hide_password_and_token(auth_server):
    server, admin, root = auth_server
    root.put("k", "v")
    token = root.token
    assert token
    for text in (repr(root), str(root)):
        assert ROOT_PASSWORD not in text and token not in text
    add_user_with_prefix_role(root)
    alice = make_client(server, username="alice", password=USER_PASSWORD)
    with pytest.raises(errors.ErrPermissionDenied) as info:
        alice.put("other", "v")
    for text in (str(info.value), repr(info.value), repr(alice)):
        assert USER_PASSWORD not in text and alice.token not in text
    bad = make_client(server, username="alice", password="typo-" + USER_PASSWORD)
    with pytest.raises(errors.ErrAuthFailed) as info:
        bad.range("k")
    for text in (str(info.value), repr(info.value), repr(bad)):
        assert USER_PASSWORD not in text
