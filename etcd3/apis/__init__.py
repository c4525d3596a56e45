"""The API groups of etcd v3 (KV, Lease, Watch, Auth, Cluster, Maintenance, Lock, Extra)."""
