//! Golden outputs of `get` for every kind and format (fixtures seeded with etcdctl).
