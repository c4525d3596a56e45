"""etcd3.utils as 0.1.6 scripts used it: exec_cmd() returns stdout as bytes and runs
with only the given environment, a failing command raises RuntimeError with stderr;
incr_last_byte for prefix ranges; the output stored in etcd."""
import os
import sys

from etcd3 import Client
from etcd3.utils import Etcd3Warning, exec_cmd, incr_last_byte

HOST = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ETCD_HOST", "127.0.0.1")
PORT = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("ETCD_PORT", "2379"))


def main():
    out = exec_cmd("echo hello world")
    print(repr(out))
    assert out == b"hello world\n"

    assert exec_cmd("printenv DEMO_VALUE", envs={"DEMO_VALUE": "42"}) == b"42\n"
    assert exec_cmd("printenv HOME", raise_error=False) == b""  # nothing is inherited
    python = exec_cmd([sys.executable, "-c", "import sys; sys.stdout.write('from python')"])
    assert python == b"from python"

    try:
        exec_cmd("ls /no/such/dir")
    except RuntimeError as e:
        print("RuntimeError:", e.args[0])
        assert isinstance(e.args[0], bytes) and b"No such file" in e.args[0]
    else:
        raise AssertionError("a failing command should raise RuntimeError")

    assert incr_last_byte("foo") == b"fop" and incr_last_byte(b"app/") == b"app0"
    assert issubclass(Etcd3Warning, UserWarning)

    client = Client(HOST, PORT)
    client.put("utilsdemo/uname", exec_cmd("uname -s"))
    client.put("utilsdemo/zzz", "outside")
    stored = client.range("utilsdemo/uname").kvs[0].value
    assert stored == exec_cmd("uname -s") and stored.endswith(b"\n")
    inside = client.range("utilsdemo/", range_end=incr_last_byte("utilsdemo/u")).kvs
    assert [kv.key for kv in inside] == [b"utilsdemo/uname"]
    client.delete_range("utilsdemo/", prefix=True)
    client.close()
    print("OK")


if __name__ == "__main__":
    main()
