"""The public surface of the seed's API exists with its names and signatures (no server)."""
from __future__ import annotations

import inspect

import etcd3
from etcd3 import baseclient, client, errors, models, swagger_helper, utils

BASE_PARAMS = ["host", "port", "protocol", "cert", "verify", "timeout", "headers", "user_agent", "pool_size",
               "username", "password", "token", "server_version", "cluster_version"]


def params(fn):
    return [p for p in inspect.signature(fn).parameters if p != "self"]


def test_top_level_names():
    for name in ("Client", "BaseClient", "Txn", "Lease", "Watcher", "Lock", "Election", "EtcdModel", "EventType",
                 "__version__"):
        assert hasattr(etcd3, name), name
    assert etcd3.Client is client.Client and etcd3.BaseClient is baseclient.BaseClient
    assert etcd3.EventType is models.EventEventType and etcd3.EventType.PUT.value == "PUT"


def test_constructor_signatures_match_the_seed():
    # 0.1.6's parameters in 0.1.6's order; ours follow, keyword-only
    assert params(baseclient.BaseClient.__init__) == BASE_PARAMS + ["endpoints", "auto_sync_interval"]
    sync = params(client.Client.__init__)
    assert sync == BASE_PARAMS[:12] + ["max_retries"] + BASE_PARAMS[12:] + ["max_response_size", "endpoints",
                                                                            "auto_sync_interval"]
    for init, ours in ((client.Client.__init__, ("max_response_size", "endpoints", "auto_sync_interval")),
                       (baseclient.BaseClient.__init__, ("endpoints", "auto_sync_interval"))):
        for name in ours:
            assert inspect.signature(init).parameters[name].kind is inspect.Parameter.KEYWORD_ONLY, name
    defaults = inspect.signature(client.Client.__init__).parameters
    assert defaults["host"].default == "127.0.0.1" and defaults["port"].default == 2379
    assert defaults["protocol"].default == "http" and defaults["cert"].default == ()
    assert defaults["pool_size"].default == 30 and defaults["server_version"].default == "3.3.0"


def test_helper_factories_match_the_seed():
    assert params(baseclient.BaseClient.Txn) == []
    assert params(baseclient.BaseClient.Lease) == ["ttl", "ID", "new"]
    assert params(baseclient.BaseClient.Watcher) == ["key", "range_end", "max_retries", "start_revision",
                                                     "progress_notify", "prev_kv", "prefix", "all", "no_put",
                                                     "no_delete"]
    assert params(baseclient.BaseClient.Lock) == ["lock_name", "lock_ttl", "reentrant", "lock_prefix"]
    sig = inspect.signature(baseclient.BaseClient.Lock).parameters
    assert sig["lock_ttl"].default == 60 and sig["lock_prefix"].default == "_locks"
    assert params(etcd3.Lock.acquire) == ["block", "lock_ttl", "timeout", "delete_key"]
    for name in ("ID", "grant", "revoke", "ttl", "alive", "time_to_live", "keepalive_once", "keepalive",
                 "cancel_keepalive", "jammed", "__enter__", "__exit__"):
        assert hasattr(etcd3.Lease, name) or name == "ID", name
    for name in ("onEvent", "unEvent", "run", "runDaemon", "stop", "watch_once", "clear_callbacks",
                 "clear_revision", "set_default_timeout"):
        assert callable(getattr(etcd3.Watcher, name)), name
    for name in ("compare", "success", "failure", "commit", "clear", "clone", "key", "range", "put", "delete",
                 "txn"):
        assert callable(getattr(etcd3.Txn, name)), name
    for name in ("release", "wait", "holders", "__enter__", "__exit__"):
        assert callable(getattr(etcd3.Lock, name)), name
    from etcd3.stateful.lock import EtcdLockAcquireTimeout, EtcdLockError

    assert issubclass(EtcdLockAcquireTimeout, EtcdLockError)


def test_methods_of_the_seed():
    assert params(baseclient.BaseClient.call_rpc)[:5] == ["method", "data", "stream", "encode", "raw"]
    assert params(baseclient.BaseClient.auth) == ["username", "password"]
    for name in ("close", "__enter__", "__exit__", "version", "health", "metrics", "metrics_raw",
                 "lease_keep_alive_once", "alarm_get", "alarm_activate", "alarm_deactivate"):
        assert callable(getattr(baseclient.BaseClient, name)), name
    assert isinstance(baseclient.BaseClient.baseurl, property)
    assert params(client.ModelizedStreamResponse.__init__) == ["client", "method", "resp", "decode"]
    assert issubclass(client.ModelizedStreamResponse, baseclient.BaseModelizedStreamResponse)
    assert callable(client.iter_response)


def test_swagger_helper_names():
    assert params(swagger_helper.SwaggerSpec.__init__) == ["spec"]
    for name in ("ref", "get", "getPath", "getSchema", "getEnum"):
        assert callable(getattr(swagger_helper.SwaggerSpec, name))
    assert params(swagger_helper.SwaggerNode.__init__) == ["root", "node", "path", "parent", "name"]
    for name in ("encode", "decode", "getModel"):
        assert callable(getattr(swagger_helper.SwaggerNode, name))
    assert swagger_helper.swagger_escape("a/b") == "a~1b"


def test_utils_names():
    for name in ("lru_cache", "memoize", "memoize_in_object", "incr_last_byte", "merge_two_dicts", "check_param",
                 "run_coro", "cached_property", "iter_json_string", "enum_value", "retry", "exec_cmd",
                 "Etcd3Warning", "find_executable"):
        assert hasattr(utils, name), name
    assert utils.incr_last_byte(b"ab") == b"ac" and utils.prefix_range_end("a\xff".encode("latin-1")) == b"b"
    assert utils.prefix_range_end(b"\xff\xff") == b"\0"
    assert utils.merge_two_dicts({"a": 1}, {"b": 2}) == {"a": 1, "b": 2}
    assert utils.enum_value(models.EventEventType.DELETE) == "DELETE" and utils.enum_value(3) == 3


def test_errors_named_as_etcd_rpctypes():
    for name in ("ErrKeyNotFound", "ErrCompacted", "ErrLeaseNotFound", "ErrUserNotFound", "ErrRoleNotFound",
                 "ErrRootUserNotExist", "ErrAuthNotEnabled", "ErrInvalidAuthToken", "ErrPermissionDenied",
                 "ErrNoLeader", "ErrRequestTooLarge", "Etcd3Exception", "Etcd3StreamError", "Etcd3WatchCanceled",
                 "UnsupportedServerVersion", "Etcd3TransportError"):
        assert issubclass(getattr(errors, name), errors.Etcd3Exception), name


def test_py_typed_marker_ships():
    import pathlib

    assert (pathlib.Path(etcd3.__file__).parent / "py.typed").is_file()
