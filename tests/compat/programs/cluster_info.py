"""What a 0.1.6 monitoring script read: version() unpacked, health(), status(),
member_list(), hash(), alarms, metrics, and the client's detected versions."""
import os
import sys

from etcd3 import Client

HOST = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ETCD_HOST", "127.0.0.1")
PORT = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("ETCD_PORT", "2379"))


def main():
    client = Client(HOST, PORT)
    server, cluster = client.version()
    print("etcd server %s, cluster %s" % (server, cluster))
    version = client.version()
    assert version.etcdserver == server and version.etcdcluster == cluster
    assert server == client.server_version and cluster == client.cluster_version
    assert client.server_version_sem.major == 3 and client.server_version_sem.minor >= 3
    assert client.api_prefix == ("/v3beta" if client.server_version_sem.minor == 3 else "/v3")
    assert client.baseurl == "http://%s:%d" % (HOST, PORT)

    health = client.health()
    print("health:", health)
    assert health == "true"

    status = client.status()
    print(status)
    assert status.version == server
    assert status.dbSize > 0 and status.raftIndex > 0 and status.raftTerm > 0

    members = client.member_list().members
    print(members)
    assert len(members) == 1
    assert members[0].ID == status.leader
    assert "http://%s:%d" % (HOST, PORT) in members[0].clientURLs

    assert isinstance(client.hash().hash, int)

    alarms = client.alarm(memberID=0).alarms
    print("alarms:", alarms)
    assert alarms is None

    metrics = client.metrics_raw()
    assert "etcd_server_has_leader 1" in metrics
    client.close()
    print("OK")


if __name__ == "__main__":
    main()
