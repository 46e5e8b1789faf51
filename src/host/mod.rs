//! This host: kernel checks, diagnostics bundles, IP autodetection — the parts of `calicoctl
//! node` that look at the machine rather than the datastore.

pub mod autodetect;
pub mod checksystem;
pub mod diags;
