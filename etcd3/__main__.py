"""``python -m etcd3``: the ``etcd3`` command line (etcdctl's verbs)."""
import sys

from etcd3.cli.main import main

sys.exit(main())
