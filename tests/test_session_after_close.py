"""``client.session`` after ``close()``, as etcd3-py 0.1.6 gave it.

0.1.6 made the session in ``__init__`` and ``close()`` closed it: ``client.session``
was then the closed one.  A closed requests Session still works (it makes new
connections), so the sync client's is the same object, still usable; a closed
aiohttp session refuses requests, and reading ``AioClient.session`` after ``close()``
gives it (``closed`` is True) instead of opening a new one nobody closes.  Both
clients themselves go on working after ``close()``, opening what they need.
"""
from __future__ import annotations

import asyncio

import pytest

from conftest import make_client
from etcd3 import AioClient

pytestmark = pytest.mark.etcd_versions("oldest", "newest")


def test_sync_session_after_close_is_the_same_and_works(etcd):
    client = make_client(etcd)
    session = client.session
    client.close()
    assert client.session is session and client._session is session
    answer = client._get(client._url("/version", prefix=False))
    assert answer.json()["etcdserver"] == etcd.version
    client.close()


def test_aio_session_after_close_is_the_closed_one(etcd):
    async def go():
        client = AioClient(etcd.host, etcd.port)
        version_url = client._url("/version", prefix=False)
        answer = await client._get(version_url)
        answer.release()
        session = client.session
        assert not session.closed
        await client.close()
        assert client.session is session and session.closed  # reading it opened nothing
        assert client.session is session
        # the client goes on: _get (on a session) opens a new one, which close() closes
        answer = await client._get(version_url)
        assert (await answer.json())["etcdserver"] == etcd.version
        renewed = client.session
        assert renewed is not session and not renewed.closed
        assert (await client.range("session/none")).count == 0
        await client.close()
        assert client.session is renewed and renewed.closed

    asyncio.run(asyncio.wait_for(go(), 30))
