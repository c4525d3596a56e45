"""Transactions as 0.1.6 wrote them: Txn with compare/success/failure and the
If/Then/Else chain, a compare-and-swap counter, txn() with raw compare dicts and
``txn_obj=True`` request ops."""
import os
import sys

from etcd3 import Client, Txn

HOST = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ETCD_HOST", "127.0.0.1")
PORT = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("ETCD_PORT", "2379"))


def increment(client, key):
    """Add one to an integer value, retried until no one else changed it in between."""
    while True:
        current = client.range(key).kvs[0]
        txn = client.Txn()
        txn.If(txn.key(key).mod == current.mod_revision)
        txn.Then(txn.put(key, str(int(current.value) + 1)))
        if txn.commit().succeeded:
            return int(current.value) + 1


def main():
    client = Client(HOST, PORT)
    client.delete_range("txndemo/", prefix=True)
    client.put("txndemo/foo", "bar")

    txn = client.Txn()
    txn.compare(txn.key("txndemo/foo").value == "bar")
    txn.success(txn.put("txndemo/foo", "bra"))
    txn.failure(txn.range("txndemo/foo"))
    resp = txn.commit()
    print(resp)
    assert resp.succeeded is True
    assert resp.responses[0].response_put.header.revision > 0
    assert client.range("txndemo/foo").kvs[0].value == b"bra"

    again = txn.commit()  # the same transaction once more: the value is not "bar" any more
    assert again.succeeded is False
    assert again.responses[0].response_range.kvs[0].value == b"bra"

    t = client.Txn()
    created = t.If(t.key("txndemo/counter").version == 0) \
        .Then(t.put("txndemo/counter", "1")) \
        .Else(t.range("txndemo/counter")) \
        .commit()
    assert created.succeeded is True
    for _ in range(5):
        value = increment(client, "txndemo/counter")
    assert value == 6 and client.range("txndemo/counter").kvs[0].value == b"6"

    t = Txn(client)
    t.If(t.key("txndemo/counter").value != "6")
    t.Then(t.put("txndemo/counter", "never"))
    assert t.commit().succeeded is False

    t = client.Txn()
    t.If(t.key("txndemo/counter").create > 0).If(t.key("txndemo/counter").version < 100)
    t.Then(t.range("txndemo/", prefix=True))
    listed = t.commit()
    assert listed.succeeded is True
    assert [kv.key for kv in listed.responses[0].response_range.kvs] == [b"txndemo/counter", b"txndemo/foo"]

    # the RPC itself, with a raw compare dict and request ops made by txn_obj=True
    put_op = client.put("txndemo/x", "1", txn_obj=True)
    range_op = client.range("txndemo/", prefix=True, txn_obj=True)
    print(put_op, range_op)
    assert "request_put" in put_op and "request_range" in range_op
    resp = client.txn(compare=[{"key": "txndemo/foo", "result": "EQUAL", "target": "VALUE", "value": "bra"}],
                      success=[put_op, range_op], failure=[])
    assert resp.succeeded is True
    assert resp.responses[1].response_range.count == 3

    t = client.Txn()
    t.If(t.key("txndemo/x").value == "1").Then(t.delete("txndemo/", prefix=True))
    deleted = t.commit()
    assert deleted.responses[0].response_delete_range.deleted == 3

    try:
        Txn.key(1)
    except TypeError as e:
        print("TypeError:", e)
    else:
        raise AssertionError("Txn.key(1) should raise TypeError")
    client.close()
    print("OK")


if __name__ == "__main__":
    main()
