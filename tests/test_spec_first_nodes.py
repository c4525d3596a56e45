"""The build-time cache of what a client's first calls need (etcd3/_spec_cache_X_Y.py,
issue 14): the rpc document's nodes of the common RPCs and their decoders.  A client's
first calls read no spec file; what they build from the cache is what the file gives."""
from __future__ import annotations

import json
import os

import pytest

from etcd3 import spec, swagger_helper
from helpers import python_output


def test_cached_nodes_are_the_json_of_the_files():
    for version in spec.bundled_versions():
        cached = spec.cached_first_nodes(version)
        assert cached is not None and cached["definitions"] and cached["paths"]
        with open(os.path.join(spec._specs_folder(), "v" + version, "rpc.swagger.json"), "rb") as f:
            raw = json.load(f)
        for name, text in cached["definitions"].items():
            assert json.loads(text) == raw["definitions"][name], (version, name)
        for path, text in cached["paths"].items():
            assert json.loads(text) == raw["paths"][path], (version, path)


@pytest.mark.parametrize("version", ["3.3", "3.5"])
def test_a_node_made_from_the_cache_is_the_one_the_file_gives(version):
    bundle = spec.SpecBundle(version)  # (a bundle of its own: the process-wide ones stay as they are)
    op = bundle.operations["range"]
    request, response, operation = op.request, op.response, op.operation
    model = response.getModel()
    decoded = response.decode_owned({"header": {"revision": "7"}, "count": "1",
                                     "kvs": [{"key": "YQ==", "mod_revision": "3"}]})
    document = bundle.documents[0]
    assert document._spec is None  # nothing read from the file so far
    assert document.spec["swagger"] == "2.0"  # read now
    assert document.getSchema("etcdserverpbRangeResponse") is response
    assert document.getSchema("etcdserverpbRangeRequest") is request
    assert document.getPath(op.path)["post"] is operation
    assert document.getPath(op.path.replace(bundle.prefix, "", 1))["post"] is operation  # another spelling
    assert response.getModel() is model and type(decoded) is model
    assert (decoded.header.revision, decoded.count, decoded.kvs[0].key, decoded.kvs[0].mod_revision) == (7, 1, b"a", 3)
    # a node the cache does not hold comes from the file, as before
    assert bundle.operations["alarm"].response.getModel().__name__ == "AlarmResponse"


def test_a_cached_decoder_behaves_as_the_compiled_one():
    assert spec.cached_operations("3.5") is not None  # (loads the version's cache module)
    decoders = swagger_helper._precompiled_decoders()
    assert decoders, "no decoders in etcd3/_spec_cache_3_5.py"
    document = spec.SpecBundle("3.5")._parse_documents()[0]  # the file's nodes, codecs of their own
    node = document.getSchema("etcdserverpbResponseHeader")
    decode = swagger_helper._decoder(node)
    # from a cache module (of any version with this message's text), not compiled now
    assert os.path.basename(decode.__code__.co_filename).startswith("_spec_cache_3_")
    header = decode({"revision": "5", "member_id": "2"})
    assert (header.revision, header.member_id, header.raft_term) == (5, 2, 0)
    with pytest.raises(Exception) as error:
        node.decode({"revision": [1]})
    assert "revision" in str(error.value)


def _run(code: str) -> str:
    return python_output(code).split()[-1]


@pytest.mark.etcd_versions("oldest", "newest")
def test_first_calls_read_no_spec_file_and_others_still_work(etcd):
    code = ("from etcd3 import Client, spec\n"
            "c = Client(%r, %d)\n"
            "c.put('/first-nodes', 'v')\n"
            "assert c.range('/first-nodes').kvs[0].value == b'v'\n"
            "lease = c.lease_grant(60)\n"
            "c.txn(compare=[], success=[c.range('/first-nodes', txn_obj=True)], failure=[])\n"
            "c.delete_range('/first-nodes')\n"
            "c.lease_revoke(lease.ID)\n"
            "read = [d._path for b in spec._bundles.values() for d in b.documents if d._spec is not None]\n"
            "assert not read, read\n"
            "assert c.status().version  # an RPC the cache does not hold: its file is read\n"
            "assert [d for b in spec._bundles.values() for d in b.documents if d._spec is not None]\n"
            "c.close()\nprint('ok')" % (etcd.host, etcd.port))
    assert _run(code) == "ok"
