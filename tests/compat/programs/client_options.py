"""Client options of 0.1.6: max_retries as a urllib3 Retry (the way requests documents
it) or an int, timeout, headers, user_agent, pool_size, the context manager, and the
attributes set at construction."""
import os
import sys

from urllib3 import Retry

from etcd3 import Client

HOST = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ETCD_HOST", "127.0.0.1")
PORT = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("ETCD_PORT", "2379"))


def main():
    retry = Retry(3, backoff_factor=0.1)
    client = Client(HOST, PORT, max_retries=retry, timeout=5, headers={"X-App": "options-demo"},
                    user_agent="options-demo/1.0", pool_size=4)
    print(client.baseurl, client.server_version, client.api_prefix)
    assert client.max_retries is retry
    assert client.baseurl == "http://%s:%d" % (HOST, PORT)
    assert (client.host, client.port, client.protocol) == (HOST, PORT, "http")
    assert client.timeout == 5 and client.headers == {"X-App": "options-demo"}
    assert client.user_agent == "options-demo/1.0"
    assert client.token is None and client.username is None
    client.put("optdemo/k", "v")
    assert client.range("optdemo/k").kvs[0].value == b"v"
    client.close()

    with Client(HOST, PORT, max_retries=3) as other:
        assert other.max_retries == 3
        assert other.range("optdemo/k").kvs[0].value == b"v"
        other.delete_range("optdemo/k")

    with Client(host=HOST, port=PORT, server_version="3.4.0", cluster_version="3.4.0") as detected:
        version = detected.version()
        assert detected.server_version == version.etcdserver  # detection overrides the arguments
        assert detected.cluster_version == version.etcdcluster
    print("OK")


if __name__ == "__main__":
    main()
