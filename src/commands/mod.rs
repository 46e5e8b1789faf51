//! One file per command. Each takes its clap args plus [`Ctx`] and returns an exit code or a
//! [`Failure`]; the edges (`lib.rs`) print failures the way calicoctl does.

pub mod apply;
pub mod cluster;
pub mod completion;
pub mod config;
pub mod create;
pub mod datastore;
pub mod delete;
pub mod dev;
pub mod diff;
pub mod engine;
pub mod get;
pub mod ipam;
pub mod label;
pub mod migrate;
pub mod node;
pub mod node_cleanup;
pub mod patch;
pub mod policy;
pub mod replace;
pub mod validate;
pub mod version;

use std::io::Write;
use std::time::Duration;

use crate::config as cfg;
use crate::datastore::client::Client;

/// How a command failed, and where calicoctl prints that.
#[derive(Debug)]
pub enum Failure {
    /// Printed to stderr followed by a newline (after calicoctl's error massaging); exit 1.
    Stderr(String),
    /// Printed to stdout followed by a newline; exit 1 (calicoctl's direct-exit cases).
    Stdout(String),
    /// Already reported; exit with this code.
    Exit(i32),
    /// Report the inner failure but exit with a specific code (e.g. diff's 2).
    Coded(Box<Failure>, i32),
}

/// Keeps a failure's message but changes its exit code.
pub fn with_exit(f: Failure, code: i32) -> Failure {
    match f {
        Failure::Exit(_) => Failure::Exit(code),
        Failure::Coded(inner, _) => Failure::Coded(inner, code),
        other => Failure::Coded(Box::new(other), code),
    }
}

/// The errors commands pass up with `?`, all printed on stderr with their text (after
/// calicoctl's error massaging), exit 1. Errors printed elsewhere or with another exit code
/// are mapped where they occur (`stdout_fail`, [`with_exit`], [`engine::client_failure`]).
macro_rules! printed_on_stderr {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Self {
                Failure::Stderr(e.to_string())
            }
        }
    )*};
}

printed_on_stderr!(
    std::io::Error,
    std::fmt::Error,
    serde_json::Error,
    ClientError,
    engine::NamespaceError,
    engine::VersionError,
    crate::datastore::kdd::KubeConfigError,
    crate::host::autodetect::AutodetectError,
    crate::output::OutputError,
    crate::policy::eval::PolicyError,
);

/// A command's result: the exit code, or how it failed.
pub type CmdResult = Result<i32, Failure>;

pub fn stderr_fail(msg: impl Into<String>) -> Failure {
    Failure::Stderr(msg.into())
}

pub fn stdout_fail(msg: impl Into<String>) -> Failure {
    Failure::Stdout(msg.into())
}

/// Why a command's datastore client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Config(#[from] cfg::ConfigError),
    #[error(transparent)]
    Connect(#[from] crate::datastore::ConnectError),
}

impl ClientError {
    /// A non-default `--config` file that does not exist: calicoctl prints it bare, on stdout.
    pub fn is_missing_config(&self) -> bool {
        matches!(self, ClientError::Config(cfg::ConfigError::Missing(_)))
    }
}

/// What every command needs from the global options.
pub struct Ctx {
    pub config_path: String,
    pub context: Option<String>,
    pub allow_version_mismatch: bool,
    pub timeout: Duration,
    /// `calicoctl` or `kubectl calico`.
    pub program: String,
    pub out: Box<dyn Write + Send>,
    pub err: Box<dyn Write + Send>,
}

impl Ctx {
    /// Loads the configuration (file / env / context) and prints warnings.
    pub fn load_config(&mut self) -> Result<cfg::Loaded, cfg::ConfigError> {
        let loaded = cfg::load(&self.config_path, self.context.as_deref(), &cfg::ProcessEnv)?;
        for w in &loaded.warnings {
            let _ = writeln!(self.err, "{w}");
        }
        crate::log::debug(&format!("loaded configuration from {:?}", loaded.source));
        Ok(loaded)
    }

    /// Builds a client for the configured datastore. Errors are libcalico's client texts.
    pub async fn client(&mut self) -> Result<Client, ClientError> {
        let loaded = self.load_config()?;
        Ok(crate::datastore::connect(&loaded.spec, self.timeout).await?)
    }
}
