"""How the unary connection pools grow beyond ``pool_size`` and shrink back
(etcd3/transport/http_pool.py, etcd3/transport/aio_http.py): AioClient's requests
beyond the pool wait for a connection (0.1.6's ``TCPConnector(limit=pool_size)``)
within their deadline, and get one when another ends; Client's threads beyond the
pool keep a spare connection each while they live.  Scripted peers (tests/hostile.py)
count the connections the clients make."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from etcd3 import AioClient, Client
from etcd3.errors import Etcd3Timeout
from helpers import open_connections
from hostile import HostileServer, answer, hold

RANGE_ANSWER = answer("HTTP/1.1 200 OK", b'{"header":{"revision":"7"}}', "Content-Type: application/json")


def answer_then_close(conn, path):
    # what a server or proxy that closes after each answer looks like
    conn.sendall(answer("HTTP/1.1 200 OK", b'{"header":{"revision":"7"}}', "Content-Type: application/json",
                        "Connection: close"))
    conn.shutdown(2)


# --------------------------------------------------------------------------- AioClient

def test_aio_requests_beyond_the_pool_time_out_within_their_deadline():
    with HostileServer(lambda conn, path: None) as server:
        server.behaviour = hold(server.stopped)  # takes requests, never answers

        async def main():
            async with AioClient(server.host, server.port, timeout=1.0, pool_size=2) as client:
                started = time.monotonic()
                outcomes = await asyncio.gather(*(client.range("k") for _ in range(6)), return_exceptions=True)
                return outcomes, time.monotonic() - started

        outcomes, elapsed = asyncio.run(asyncio.wait_for(main(), 30))
    # (which of them time out waiting and which on a connection depends on the order
    # their deadlines pass in: a waiting one may get the connection of one that timed out)
    assert all(isinstance(e, Etcd3Timeout) for e in outcomes), outcomes
    assert 0.9 < elapsed < 2.5, elapsed


def test_aio_a_connection_closed_after_its_answer_hands_its_place_to_a_waiting_request():
    with HostileServer(answer_then_close) as server:
        async def main():
            async with AioClient(server.host, server.port, timeout=10, pool_size=2) as client:
                return await asyncio.gather(*(client.range("k") for _ in range(20)))

        answers = asyncio.run(asyncio.wait_for(main(), 30))
        assert [a.header.revision for a in answers] == [7] * 20
        assert len(server.requests) == 21  # /version and each range, each on a connection of its own


@pytest.mark.etcd_versions("newest")
def test_aio_cancelled_waiting_requests_give_up_their_place(etcd):
    before = open_connections(etcd.port)

    async def main():
        async with AioClient(etcd.host, etcd.port, pool_size=1) as client:
            calls = [asyncio.ensure_future(client.put("cancelled/%d" % i, "v")) for i in range(10)]
            await asyncio.sleep(0)  # all of them started: one on the connection, nine waiting
            for call in calls[1::2]:
                call.cancel()
            await asyncio.gather(*calls[0::2])
            assert all(call.cancelled() for call in calls[1::2])
            assert open_connections(etcd.port) == before + 1
            # the pool is whole: the next calls go through on its one connection
            await asyncio.gather(*(client.put("cancelled/more/%d" % i, "v") for i in range(5)))
            assert open_connections(etcd.port) == before + 1
            keys = sorted(kv.key for kv in (await client.range("cancelled/", prefix=True)).kvs or ())
            await client.delete_range("cancelled/", prefix=True)
            return keys

    keys = asyncio.run(asyncio.wait_for(main(), 30))
    assert [k for k in keys if not k.startswith(b"cancelled/more/")] == [b"cancelled/%d" % i for i in (0, 2, 4, 6, 8)]
    assert len(keys) == 10
    assert open_connections(etcd.port) == before


# --------------------------------------------------------------------------- Client

def answer_together(threads):
    """A behaviour that answers only when ``threads`` requests are in at once: the
    clients' threads then surely call at the same time."""
    together = threading.Barrier(threads, timeout=20)

    def behave(conn, path):
        together.wait()
        conn.sendall(RANGE_ANSWER)
    return behave


def test_threads_beyond_the_pool_keep_a_connection_each_until_they_end():
    threads, rounds = 6, 10
    with HostileServer(answer_together(threads)) as server:
        client = Client(server.host, server.port, timeout=20, pool_size=2)
        done = threading.Barrier(threads + 1, timeout=30)
        finish = threading.Event()
        answers = []

        def work():
            for _ in range(rounds):
                answers.append(client.range("k").header.revision)
            done.wait()
            finish.wait(30)

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for t in workers:
            t.start()
        done.wait()
        assert answers == [7] * (threads * rounds)
        # a connection per thread calling at once, made once and kept (not one per call beyond the pool)
        assert len(server._conns) <= threads + 1
        assert open_connections(server.port) == threads
        finish.set()
        for t in workers:
            t.join(20)
        # the threads are gone, their spares with them: the pool keeps pool_size
        assert open_connections(server.port) <= 2
        client.close()
        assert open_connections(server.port) == 0


def test_closing_the_client_closes_the_spares_of_live_threads():
    threads = 4
    with HostileServer(answer_together(threads)) as server:
        client = Client(server.host, server.port, timeout=20, pool_size=1)
        done = threading.Barrier(threads + 1, timeout=30)
        finish = threading.Event()
        answers = []

        def work():
            answers.append(client.range("k").header.revision)
            done.wait()
            finish.wait(30)
            answers.append(client.range("k").header.revision)  # after close(): a new connection

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for t in workers:
            t.start()
        done.wait()
        assert open_connections(server.port) == threads  # one shared, three spares
        client.close()
        assert open_connections(server.port) == 0
        finish.set()
        for t in workers:
            t.join(20)
        assert answers == [7] * (2 * threads)
        client.close()
