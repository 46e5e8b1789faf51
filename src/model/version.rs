//! The version this client reports (`calicoctl version`, the version-mismatch check, the
//! `ipam check` report): calicoctl's, as the package version says.

/// The client version this binary reports, e.g. `v3.32.1`.
pub fn client_version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}
