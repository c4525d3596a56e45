"""The ``etcd3`` command line: etcdctl v3.5's verbs, flags, output and exit codes."""
