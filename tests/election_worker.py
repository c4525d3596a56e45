"""A candidate process for tests/test_election_helper.py (run as a script).

    python tests/election_worker.py HOST PORT NAME VALUE LEASE_TTL

Campaigns with VALUE; prints "leader VALUE" once elected.  Then follows the
commands on stdin, one per line, answering each:
    proclaim X   -> "proclaimed X"
    resign       -> "resigned" (and exits)
    (end of stdin: exits without resigning; its lease then expires)
Every line is flushed at once: the test reads them as they come.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from etcd3 import Client  # noqa: E402


def say(*words):
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


def main(argv):
    host, port, name, value, ttl = argv[:5]
    client = Client(host=host, port=int(port))
    try:
        election = client.Election(name, lease_ttl=int(ttl))
        election.campaign(value)
        say("leader", value)
        for line in sys.stdin:
            command, _, arg = line.strip().partition(" ")
            if command == "proclaim":
                election.proclaim(arg)
                say("proclaimed", arg)
            elif command == "resign":
                election.resign()
                say("resigned")
                return
            elif command:
                say("unknown", command)
    finally:
        client.close()


if __name__ == "__main__":
    main(sys.argv[1:])
