"""Users, roles and permissions as a 0.1.6 admin script set them up: user_add,
role_add, role_grant_permission(name, key=..., permType=..., prefix=True),
user_grant_role, auth_enable, then clients that call auth() and hit
ErrPermissionDenied; auth_disable at the end.  Needs a server of its own."""
import os
import sys

from etcd3 import Client
from etcd3.errors import ErrAuthFailed, ErrPermissionDenied, ErrRoleNotFound, ErrUserEmpty, ErrUserNotFound
from etcd3.models import authpbPermissionType

HOST = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ETCD_HOST", "127.0.0.1")
PORT = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("ETCD_PORT", "2379"))


def expect(error_class, call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except error_class as e:
        print("%s: %s" % (error_class.__name__, e))
        return e
    raise AssertionError("%s was not raised" % error_class.__name__)


def main():
    admin = Client(HOST, PORT)
    admin.user_add("root", "rootpw")
    admin.user_grant_role("root", "root")
    admin.role_add("reader")
    admin.role_grant_permission("reader", key="authdemo/", permType=authpbPermissionType.READ, prefix=True)
    admin.role_add("writer")
    admin.role_grant_permission(name="writer", key="authdemo/", permType="READWRITE", prefix=True)
    admin.user_add("alice", "alicepw")
    admin.user_grant_role(user="alice", role="reader")
    admin.user_add("bob", "bobpw")
    admin.user_grant_role("bob", "writer")

    perm = admin.role_get("reader").perm[0]
    print(perm)
    assert perm.permType == authpbPermissionType.READ
    assert perm.key == b"authdemo/" and perm.range_end == b"authdemo0"
    assert sorted(admin.user_list().users) == ["alice", "bob", "root"]
    assert {"reader", "writer"} <= set(admin.role_list().roles)
    assert admin.user_get("alice").roles == ["reader"]
    admin.put("authdemo/x", "seed")
    admin.auth_enable()

    root = Client(HOST, PORT, username="root", password="rootpw")
    root.auth()
    assert root.token

    alice = Client(HOST, PORT)
    alice.auth(username="alice", password="alicepw")
    assert alice.range("authdemo/x").kvs[0].value == b"seed"
    denied = expect(ErrPermissionDenied, alice.put, "authdemo/x", "nope")
    assert denied.code == 7 and denied.status == 403

    bob = Client(HOST, PORT)
    bob.auth("bob", "bobpw")
    bob.put("authdemo/x", "bob")
    assert alice.range("authdemo/x").kvs[0].value == b"bob"
    expect(ErrPermissionDenied, bob.put, "elsewhere/x", "1")

    expect(ErrAuthFailed, Client(HOST, PORT).auth, "alice", "wrong")
    expect(ErrUserEmpty, Client(HOST, PORT).range, "authdemo/x")  # no token at all
    expect(ErrUserNotFound, root.user_get, "nobody")
    expect(ErrRoleNotFound, root.role_get, "nothing")

    root.user_revoke_role("alice", "reader")
    expect(ErrPermissionDenied, alice.range, "authdemo/x")
    root.user_change_password("alice", "newpw")
    renewed = Client(HOST, PORT)
    renewed.auth("alice", "newpw")
    assert renewed.token

    root.auth_disable()
    assert root.token is None
    anyone = Client(HOST, PORT)
    anyone.put("authdemo/x", "free")
    assert anyone.range("authdemo/x").kvs[0].value == b"free"
    anyone.role_delete("writer")
    anyone.user_delete("bob")
    assert sorted(anyone.user_list().users) == ["alice", "root"]
    print("OK")


if __name__ == "__main__":
    main()
