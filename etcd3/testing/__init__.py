"""Real etcd servers for tests: fetching binaries, starting and stopping servers."""
