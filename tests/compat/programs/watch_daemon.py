"""A config watcher as 0.1.6's README wrote one: Watcher(all=True, prev_kv=True),
onEvent with a regex (matched at the start of the key), an EventType and a callable
filter, a catch-all callback, runDaemon() and stop()."""
import os
import sys
import threading

from etcd3 import Client, EventType

HOST = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ETCD_HOST", "127.0.0.1")
PORT = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("ETCD_PORT", "2379"))


def main():
    client = Client(HOST, PORT)
    client.delete_range("watchdemo/", prefix=True)
    revision = client.range("watchdemo/", prefix=True).header.revision

    watcher = client.Watcher(all=True, progress_notify=True, prev_kv=True, start_revision=revision + 1)
    config_events, deletes, unanchored, everything = [], [], [], []
    stopped = threading.Event()
    watcher.onEvent("watchdemo/cfg/.*", lambda e: config_events.append(e))
    watcher.onEvent("cfg", lambda e: unanchored.append(e))  # re.match: never in the middle of a key
    watcher.onEvent(EventType.DELETE, lambda e: deletes.append(e))
    watcher.onEvent(lambda e: everything.append(e))
    watcher.onEvent(lambda e: e.key.endswith(b"/stop"), lambda e: stopped.set())
    watcher.runDaemon()
    assert watcher.watching

    client.put("watchdemo/cfg/a", "1")
    client.put("watchdemo/cfg/a", "2")
    client.put("watchdemo/other", "x")
    client.delete_range("watchdemo/cfg/a")
    client.put("watchdemo/stop", "now")
    assert stopped.wait(10), "no stop event"
    watcher.stop()
    assert not watcher.watching

    for event in everything:
        print(event, event.type, event.key, event.value)
    assert [(e.type, e.key, e.value) for e in config_events] == [
        (EventType.PUT, b"watchdemo/cfg/a", b"1"),
        (EventType.PUT, b"watchdemo/cfg/a", b"2"),
        (EventType.DELETE, b"watchdemo/cfg/a", None)]
    assert config_events[0].prev_kv is None
    assert config_events[1].prev_kv.value == b"1"
    assert config_events[0]["type"] == EventType.PUT and isinstance(config_events[0].type, EventType)
    assert config_events[1].mod_revision > config_events[0].mod_revision
    assert config_events[2].create_revision is None
    assert [e.key for e in deletes] == [b"watchdemo/cfg/a"]
    assert unanchored == []
    assert [e.key for e in everything] == [b"watchdemo/cfg/a", b"watchdemo/cfg/a", b"watchdemo/other",
                                           b"watchdemo/cfg/a", b"watchdemo/stop"]

    idle = client.Watcher(key="watchdemo/idle")
    try:
        idle.run()
    except TypeError as e:
        print("TypeError:", e)
    else:
        raise AssertionError("run() without callbacks should raise TypeError")
    try:
        idle.onEvent("watchdemo/.*", "not callable")
    except TypeError as e:
        print("TypeError:", e)
    else:
        raise AssertionError("a callback that is not callable should raise TypeError")

    client.delete_range("watchdemo/", prefix=True)
    client.close()
    print("OK")


if __name__ == "__main__":
    main()
