"""The bundled etcd swagger specs, by version."""
