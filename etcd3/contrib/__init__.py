"""Kept for code written against etcd3-py 0.1.6, where this package was empty."""
