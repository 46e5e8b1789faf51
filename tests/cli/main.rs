//! The CLI test binary: real etcd (and, where built, kube-apiserver and BIRD) behind the
//! built `calicoctl`. See harness.rs.

mod harness;

mod backends;
mod bird;
mod cleanup;
mod cli_basics;
mod completion;
mod config;
mod crud;
mod errors;
mod faults;
mod host;
mod ipam;
mod kdd;
mod migrate;
mod output;
mod policy;
mod repo;
mod secrets;
mod tls;
