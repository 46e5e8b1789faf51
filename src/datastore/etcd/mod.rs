//! The etcd v3 backend: libcalico-go's exact keys, values and transaction shapes.

mod cas;
pub mod ipam;
pub mod keys;

use std::future::Future;
use std::io::Write as _;
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Certificate, Client, ConnectOptions, GetOptions, Identity, KeyValue, TlsOptions, Txn, TxnOp,
    TxnOpResponse,
};
use serde_json::Value;

use self::cas::Cas;
use super::{
    Backend, Datastore, DatastoreError, FelixReport, ListOptions, ObjectList, Result, resource_id,
};
use crate::gocompat::json::to_go_json;
use crate::model::ipam::{IpamKey, IpamKv, IpamList, IpamValue};
use crate::model::kinds::{ClientRule, KindInfo, by_kind};
use crate::model::meta;
use crate::model::schema::schema;

/// The annotation etcd policy objects carry their v3 name in (≥ v3.30).
pub const METADATA_ANNOTATION: &str = "projectcalico.org/metadata";
/// The profile every etcd datastore pretends to have.
pub const DEFAULT_ALLOW_PROFILE: &str = "projectcalico-default-allow";

/// The profile every datastore synthesises instead of storing it.
pub fn is_default_allow(kind: &KindInfo, name: &str) -> bool {
    kind.hooks.client == ClientRule::DefaultAllowProfile && name == DEFAULT_ALLOW_PROFILE
}

/// Page size for large prefix reads, so memory stays bounded by what we keep.
const LIST_PAGE: i64 = 1000;

/// Objects written or read per transaction by the batched calls (etcd's default limit is 128
/// operations per transaction).
const BATCH: usize = 120;

/// Objects decoded at a time while scanning a page (see `scan_pages`).
const DECODE_BATCH: usize = 100;

/// Keys per page. etcd 3.4 counts the whole remaining range on every limited request, so small
/// pages over a big prefix cost O(n²/page) on the server; pages are large except for IPAM blocks,
/// whose values are big (≈15 KB each) and whose readers keep memory proportional to one page.
/// v3 resources (≈600 B each, at most ~100k of a kind) use middle-sized pages so a streamed
/// `get` holds little more than its output.
/// Past the first page, pages double up to 8 times that (about 10 MB of values), so a scan of
/// n keys takes O(log n) pages plus n / (8 × first): `ipam check` over 470k WEPs and 496k
/// handles spent 216 s (mostly in etcd's counting) with 235 pages of 2,000 WEPs, 65 s with
/// growing pages, under the same load.
fn page_size(prefix: &str) -> (i64, i64) {
    if prefix.contains("/ipam/v2/assignment/") {
        (LIST_PAGE, LIST_PAGE)
    } else if prefix.starts_with("/calico/resources/") {
        (2 * LIST_PAGE, 16 * LIST_PAGE)
    } else {
        (5 * LIST_PAGE, 40 * LIST_PAGE)
    }
}

/// How to reach etcd.
#[derive(Debug, Clone, Default)]
pub struct EtcdSettings {
    pub endpoints: Vec<String>,
    pub username: String,
    pub password: String,
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    /// Bound on connecting and on every request.
    pub timeout: Duration,
}

/// How long a member may take to answer its health probe before it is passed over (it is
/// still used, with the whole timeout, when no other member answers).
const PROBE_DEADLINE: Duration = Duration::from_secs(1);

/// How long a request may go unanswered before its member is checked with a Status call on
/// the same connection (answered within the probe deadline: the member is busy and is waited
/// for; not answered: it stopped, e.g. SIGSTOPped after its probe).
const SUSPECT_AFTER: Duration = Duration::from_millis(500);

/// How a request ended when it did not succeed.
enum Failed {
    /// The error to report: the request was refused, or never delivered, or a read.
    Error(DatastoreError),
    /// A write was sent, then its member dropped the connection or stopped answering: it may
    /// have been applied.
    Unknown(DatastoreError),
}

/// A request watched by `watched`.
enum Watched<T> {
    Done(std::result::Result<T, etcd_client::Error>),
    /// Neither the request nor a health check on its connection was answered in time.
    Hung,
}

/// Waits for `request`; each time it has gone `SUSPECT_AFTER` without an answer, checks that
/// its member still answers a Status call within `probe_deadline`, and gives up when it does
/// not. A member that stops after its probe then costs about 1.5 s, not the whole timeout,
/// while a slow answer to a big request is still waited for.
async fn watched<T>(
    client: &Client,
    probe_deadline: Duration,
    request: impl Future<Output = std::result::Result<T, etcd_client::Error>>,
) -> Watched<T> {
    tokio::pin!(request);
    loop {
        if let Ok(r) = tokio::time::timeout(SUSPECT_AFTER, &mut request).await {
            return Watched::Done(r);
        }
        let mut maintenance = client.maintenance_client();
        let check = tokio::time::timeout(probe_deadline, maintenance.status());
        tokio::select! {
            r = &mut request => return Watched::Done(r),
            c = check => match c {
                Ok(Ok(_)) => {}
                Ok(Err(e)) if answered(&e) => {}
                _ => return Watched::Hung,
            },
        }
    }
}

/// The warning etcd's Go client logs to stderr when a request fails (calicoctl prints it
/// before its own error); `target` names the first endpoint, as Go's client does.
fn go_client_warning(first_endpoint: &str, method: &str, error: &str) {
    let authority = first_endpoint
        .split_once("://")
        .map_or(first_endpoint, |(_, rest)| rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // zap's field order, so not a JSON map.
    let q = |s: &str| Value::String(s.to_string()).to_string();
    let _ = writeln!(
        crate::gocompat::stdio::stderr(),
        "{{\"level\":\"warn\",\"ts\":{},\"logger\":\"etcd-client\",\"caller\":\"v3@v3.6.5/retry_interceptor.go:65\",\"msg\":\"retrying of unary invoker failed\",\"target\":{},\"method\":{},\"attempt\":0,\"error\":{}}}",
        q(&chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string()),
        q(&format!(
            "etcd-endpoints://{:p}/{authority}",
            first_endpoint.as_ptr()
        )),
        q(method),
        q(error)
    );
}

/// The etcd datastore.
///
/// One client per member rather than etcd-client's balanced channel: the balancer keeps
/// routing requests to a member that has gone away (each then fails with "connection
/// refused"), while calicoctl's contract is that any live member serves. Before its first
/// request a member is probed (a Status call, answered by the member itself); requests go to
/// the member that last answered, and a member that failed its probe or a request is skipped
/// for the rest of the command.
pub struct EtcdDatastore {
    members: Vec<Member>,
    /// Bound on a health probe (the smaller of `PROBE_DEADLINE` and the timeout).
    probe_deadline: Duration,
    /// A client certificate is configured (for messages).
    client_cert: bool,
    /// The member requests try first.
    current: std::sync::atomic::AtomicUsize,
    options: ConnectOptions,
    /// Every endpoint, for messages.
    endpoints: String,
    timeout: Duration,
    /// Set once a request went unanswered for the whole timeout (quorum lost, members hung):
    /// later requests fail at once rather than each waiting the full timeout again.
    stalled: std::sync::atomic::AtomicBool,
}

/// The outcome of reading the next page in the background.
enum Prefetch {
    Page(Box<etcd_client::GetResponse>),
    TimedOut,
    Failed,
    /// The member (its index) stopped answering.
    Hung(usize),
}

struct Member {
    endpoint: String,
    client: tokio::sync::OnceCell<Client>,
    /// A `Health` as u8.
    health: std::sync::atomic::AtomicU8,
    /// Why the member was given up (its probe or request error, as reported), for the
    /// message when no member is left.
    failure: std::sync::Mutex<Option<DatastoreError>>,
}

/// What a command has learnt about a member so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// Not probed yet.
    Unknown = 0,
    /// Answered its probe.
    Healthy = 1,
    /// Did not answer its probe in time (hung, or just slow): used only when no healthy
    /// member is left.
    Slow = 2,
    /// Refused, reset or broke the connection, or does not speak etcd's gRPC: skipped.
    Dead = 3,
}

impl Member {
    fn health(&self) -> Health {
        match self.health.load(std::sync::atomic::Ordering::Relaxed) {
            1 => Health::Healthy,
            2 => Health::Slow,
            3 => Health::Dead,
            _ => Health::Unknown,
        }
    }

    fn set_health(&self, h: Health) {
        self.health
            .store(h as u8, std::sync::atomic::Ordering::Relaxed);
    }

    /// Gives the member up for the rest of the command.
    fn fail(&self, why: DatastoreError) {
        self.set_health(Health::Dead);
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(why);
        }
    }
}

/// "etcd client certificate /path" or "etcd client certificate (inline etcdCert)".
fn describe_pem(inline: &str, file: &str, what: &str) -> String {
    if inline.is_empty() {
        format!("etcd {what} {file}")
    } else {
        format!("etcd {what} (inline in the config)")
    }
}

/// Inline PEM, else the file's content (read errors in Go's words, as calicoctl), else None.
fn load_pem(inline: &str, file: &str) -> Result<Option<Vec<u8>>> {
    if !inline.is_empty() {
        return Ok(Some(inline.as_bytes().to_vec()));
    }
    if file.is_empty() {
        return Ok(None);
    }
    std::fs::read(file)
        .map(Some)
        .map_err(|e| DatastoreError::Connection(crate::gocompat::goerr::open_error(file, &e)))
}

impl EtcdDatastore {
    /// Builds the client. Nothing is sent until the first request, as with libcalico.
    pub async fn connect(s: &EtcdSettings) -> Result<Self> {
        if s.endpoints.is_empty() {
            return Err(DatastoreError::Other("no etcd endpoints specified".into()));
        }
        let timeout = if s.timeout.is_zero() {
            Duration::from_secs(10)
        } else {
            s.timeout
        };
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(timeout)
            .with_timeout(timeout)
            .with_keep_alive(Duration::from_secs(30), timeout);
        if !s.username.is_empty() && !s.password.is_empty() {
            opts = opts.with_user(s.username.clone(), s.password.clone());
        }
        // What calicoctl checks before connecting, in its order (etcd's TLSInfo.ClientConfig):
        // both halves of the client pair named, the pair loadable and matching, then the CA.
        let has_cert = !s.cert_pem.is_empty() || !s.cert_file.is_empty();
        let has_key = !s.key_pem.is_empty() || !s.key_file.is_empty();
        if has_cert != has_key {
            return Err(DatastoreError::Connection(
                if s.cert_pem.is_empty() && s.key_pem.is_empty() {
                    format!(
                        "KeyFile and CertFile must both be present[key: {}, cert: {}]",
                        s.key_file, s.cert_file
                    )
                } else {
                    "etcd TLS needs both a client certificate and its key (etcdCert and etcdKey)"
                        .to_string()
                },
            ));
        }
        let cert = load_pem(&s.cert_pem, &s.cert_file)?;
        let key = load_pem(&s.key_pem, &s.key_file)?;
        if let (Some(c), Some(k)) = (&cert, &key) {
            super::certcheck::key_pair(c, k)
                .map_err(|e| DatastoreError::Connection(e.to_string()))?;
        }
        let ca = load_pem(&s.ca_pem, &s.ca_file)?;
        if let Some(pem) = &ca
            && !super::certcheck::has_certificate(pem)
        {
            // calicoctl would use an empty CA pool and retry the handshake until the timeout.
            let setting = if s.ca_pem.is_empty() {
                "etcdCACertFile"
            } else {
                "etcdCACert"
            };
            return Err(DatastoreError::Connection(format!(
                "{} holds no PEM certificate (check {setting})",
                describe_pem(&s.ca_pem, &s.ca_file, "CA certificate")
            )));
        }
        let now = chrono::Utc::now();
        for (pem, what) in [
            (&ca, describe_pem(&s.ca_pem, &s.ca_file, "CA certificate")),
            (
                &cert,
                describe_pem(&s.cert_pem, &s.cert_file, "client certificate"),
            ),
        ] {
            if let Some(p) = pem
                && let Some(msg) = super::certcheck::check(p, &what, now)
            {
                return Err(DatastoreError::Connection(msg));
            }
        }
        let wants_tls = s.endpoints.iter().any(|e| e.starts_with("https://"));
        if wants_tls || ca.is_some() || cert.is_some() {
            let mut tls = TlsOptions::new();
            if let Some(ca) = ca {
                tls = tls.ca_certificate(Certificate::from_pem(ca));
            }
            if let (Some(c), Some(k)) = (cert, key) {
                tls = tls.identity(Identity::from_pem(c, k));
            }
            opts = opts.with_tls(tls);
        }
        // Nothing is sent here: members are probed on first use, so that a hung first member
        // (or one that authenticates slowly) costs no more than the probe deadline.
        Ok(EtcdDatastore {
            members: s
                .endpoints
                .iter()
                .map(|e| Member {
                    endpoint: e.clone(),
                    client: tokio::sync::OnceCell::new(),
                    health: std::sync::atomic::AtomicU8::new(Health::Unknown as u8),
                    failure: std::sync::Mutex::new(None),
                })
                .collect(),
            probe_deadline: PROBE_DEADLINE.min(timeout),
            client_cert: has_cert,
            current: std::sync::atomic::AtomicUsize::new(0),
            options: opts,
            endpoints: crate::log::redact_url_passwords(&s.endpoints.join(",")),
            timeout,
            stalled: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The client of member `i`, built on first use.
    async fn member(&self, i: usize) -> std::result::Result<Client, etcd_client::Error> {
        let m = &self.members[i];
        m.client
            .get_or_try_init(|| Client::connect([m.endpoint.as_str()], Some(self.options.clone())))
            .await
            .cloned()
    }

    /// A KV client that accepts large pages (a page of /26 blocks is ~8 KiB per block).
    fn kv_of(client: &Client) -> etcd_client::KvClient {
        client.kv_client().max_decoding_message_size(512 << 20)
    }

    /// Classifies a failure of member `i`; `first_contact` when it came from the member's
    /// probe (the first request on a new connection), where a mismatch of TLS settings shows.
    fn explain(&self, e: &etcd_client::Error, i: usize, first_contact: bool) -> DatastoreError {
        let context = Context {
            endpoints: &self.endpoints,
            timeout: self.timeout,
            tls: self.members[i].endpoint.starts_with("https://"),
            client_cert: self.client_cert,
            first_contact,
        };
        classify(e, &context)
    }

    /// Probes member `i` (a Status call, which the member answers itself) within the probe
    /// deadline and records what it learnt.
    async fn probe(&self, i: usize) -> Health {
        let m = &self.members[i];
        let attempt = async {
            let client = self.member(i).await?;
            client.maintenance_client().status().await
        };
        let h = match tokio::time::timeout(self.probe_deadline, attempt).await {
            Ok(Ok(_)) => Health::Healthy,
            Ok(Err(e)) if answered(&e) => Health::Healthy,
            Ok(Err(e)) => {
                m.fail(self.explain(&e, i, true));
                return Health::Dead;
            }
            Err(_) => Health::Slow,
        };
        m.set_health(h);
        h
    }

    /// Unless the current member has answered, probes every member not probed yet at once and
    /// makes the first to answer current: a hung or broken member costs nothing while another
    /// answers.
    async fn choose(&self) {
        use futures::stream::{FuturesUnordered, StreamExt};
        use std::sync::atomic::Ordering;
        if self.members[self.current.load(Ordering::Relaxed)].health() == Health::Healthy {
            return;
        }
        let mut probes: FuturesUnordered<_> = (0..self.members.len())
            .filter(|&i| self.members[i].health() == Health::Unknown)
            .map(|i| async move { (i, self.probe(i).await) })
            .collect();
        while let Some((i, h)) = probes.next().await {
            if h == Health::Healthy {
                self.current.store(i, Ordering::Relaxed);
                return;
            }
        }
    }

    /// Runs one request within the overall timeout; see `send`. A write that was cut off is
    /// reported with its error.
    async fn call<T, F, Fut>(&self, read: bool, method: &'static str, f: F) -> Result<T>
    where
        F: Fn(etcd_client::KvClient) -> Fut,
        Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        self.send(read, method, f).await.map_err(|e| match e {
            Failed::Error(e) | Failed::Unknown(e) => e,
        })
    }

    /// Runs one request within the overall timeout on a member that answered its probe,
    /// starting at the current one, moving to the next when a member cannot be reached (the
    /// request was never delivered) or, for reads, when the connection dropped mid-request or
    /// the member stopped answering (see `watched`). A write cut off that way may have been
    /// applied: it comes back as `Failed::Unknown`, for the caller to read back. Members that
    /// were too slow for their probe, or stopped answering, are tried last, unwatched, with
    /// what is left of the timeout. Failures are classified into one line naming the endpoints.
    async fn send<T, F, Fut>(
        &self,
        read: bool,
        method: &'static str,
        f: F,
    ) -> std::result::Result<T, Failed>
    where
        F: Fn(etcd_client::KvClient) -> Fut,
        Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        use std::sync::atomic::Ordering;
        if self.stalled.load(Ordering::Relaxed) {
            return Err(Failed::Error(timed_out(&self.endpoints, self.timeout)));
        }
        self.choose().await;
        let n = self.members.len();
        let first = self.current.load(Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + self.timeout + Duration::from_millis(500);
        for slow_pass in [false, true] {
            for step in 0..n {
                let i = (first + step) % n;
                let m = &self.members[i];
                match (m.health(), slow_pass) {
                    (Health::Dead, _) | (Health::Slow, false) => continue,
                    (Health::Healthy | Health::Unknown, true) => continue,
                    (Health::Unknown, false) if self.probe(i).await != Health::Healthy => {
                        continue;
                    }
                    _ => {}
                }
                let attempt = async {
                    let client = match self.member(i).await {
                        Ok(c) => c,
                        Err(e) => return Watched::Done(Err(e)),
                    };
                    let request = f(Self::kv_of(&client));
                    if slow_pass {
                        Watched::Done(request.await)
                    } else {
                        watched(&client, self.probe_deadline, request).await
                    }
                };
                match tokio::time::timeout_at(deadline, attempt).await {
                    Ok(Watched::Done(Ok(v))) => {
                        m.set_health(Health::Healthy);
                        self.current.store(i, Ordering::Relaxed);
                        return Ok(v);
                    }
                    Ok(Watched::Done(Err(e))) => {
                        let chain = error_chain(&e).to_lowercase();
                        if stall(&chain) {
                            self.stalled.store(true, Ordering::Relaxed);
                            return Err(Failed::Error(timed_out(&self.endpoints, self.timeout)));
                        }
                        let err = self.explain(&e, i, false);
                        if let etcd_client::Error::GRpcStatus(st) = &e
                            && answered(&e)
                        {
                            let text = format!(
                                "rpc error: code = {:?} desc = {}",
                                st.code(),
                                st.message()
                            );
                            go_client_warning(&self.members[0].endpoint, method, &text);
                        }
                        let lost = unreachable(&chain) || dropped(&chain);
                        if lost {
                            m.fail(err.clone());
                        }
                        if unreachable(&chain) || (read && lost) {
                            continue;
                        }
                        return Err(if lost {
                            Failed::Unknown(err)
                        } else {
                            Failed::Error(err)
                        });
                    }
                    Ok(Watched::Hung) => {
                        // Still used when nothing else is left, unwatched.
                        m.set_health(Health::Slow);
                        let err = self.hung(i);
                        if let Ok(mut f) = m.failure.lock() {
                            f.get_or_insert(err.clone());
                        }
                        if read {
                            continue;
                        }
                        return Err(Failed::Unknown(err));
                    }
                    Err(_) => {
                        self.stalled.store(true, Ordering::Relaxed);
                        return Err(Failed::Error(timed_out(&self.endpoints, self.timeout)));
                    }
                }
            }
        }
        // No member left: the first one's reason (each names every endpoint).
        Err(Failed::Error(
            (0..n)
                .filter_map(|s| {
                    let f = self.members[(first + s) % n].failure.lock().ok()?;
                    f.clone()
                })
                .next()
                .unwrap_or_else(|| timed_out(&self.endpoints, self.timeout)),
        ))
    }

    /// The error of member `i` that stopped answering.
    fn hung(&self, i: usize) -> DatastoreError {
        DatastoreError::Connection(format!(
            "error connecting to etcd at {}: {} stopped answering (no reply to a request, nor to a health check within {}s)",
            self.endpoints,
            crate::log::redact_url_passwords(&self.members[i].endpoint),
            self.probe_deadline.as_secs_f64()
        ))
    }

    /// A read-only transaction (several keys at one revision).
    async fn read_txn(&self, txn: Txn) -> Result<etcd_client::TxnResponse> {
        self.call(true, "/etcdserverpb.KV/Txn", |mut kv| {
            let t = txn.clone();
            async move { kv.txn(t).await }
        })
        .await
    }

    /// A consistent paged range read: every page at the revision of the first.
    async fn range(&self, prefix: &str) -> Result<(Vec<KeyValue>, i64)> {
        let mut out = Vec::new();
        let revision = self
            .range_pages(prefix, &mut |_, kvs| {
                out.extend(kvs);
                Ok(())
            })
            .await?;
        Ok((out, revision))
    }

    /// Reads a prefix in pages of `LIST_PAGE` at one revision, handing each page to `f` so that
    /// only one page is held at a time (plus the next one in flight: it is requested before `f`
    /// runs, so etcd prepares it while we decode). Returns the revision read at.
    async fn range_pages(
        &self,
        prefix: &str,
        f: &mut (dyn FnMut(i64, Vec<KeyValue>) -> Result<()> + Send),
    ) -> Result<i64> {
        let end = prefix_end(prefix.as_bytes());
        let (mut limit, max_limit) = page_size(prefix);
        let deadline = self.timeout + Duration::from_millis(500);
        let opts_for = |revision: i64, limit: i64| {
            GetOptions::new()
                .with_range(end.clone())
                .with_limit(limit)
                .with_revision(revision)
        };
        // The next page is fetched by a spawned task on the current member; when that fails
        // the page is read again through `call`, which moves to another member.
        let probe_deadline = self.probe_deadline;
        let fetch = |client: Option<(usize, Client)>, start: Vec<u8>, revision: i64, limit: i64| {
            let opts = opts_for(revision, limit);
            tokio::spawn(async move {
                let Some((i, client)) = client else {
                    return Prefetch::Failed;
                };
                let mut kv = Self::kv_of(&client);
                let request = watched(&client, probe_deadline, kv.get(start, Some(opts)));
                match tokio::time::timeout(deadline, request).await {
                    Ok(Watched::Done(Ok(r))) => Prefetch::Page(Box::new(r)),
                    Ok(Watched::Done(Err(e))) if stall(&error_chain(&e).to_lowercase()) => {
                        Prefetch::TimedOut
                    }
                    Ok(Watched::Done(Err(_))) => Prefetch::Failed,
                    Ok(Watched::Hung) => Prefetch::Hung(i),
                    Err(_) => Prefetch::TimedOut,
                }
            })
        };
        // Prefetches go to the current member once it has answered (the first page of a
        // command goes through `call`, which probes).
        let current = || {
            let i = self.current.load(std::sync::atomic::Ordering::Relaxed);
            let m = &self.members[i];
            (m.health() == Health::Healthy)
                .then(|| m.client.get().cloned().map(|c| (i, c)))
                .flatten()
        };
        if self.stalled.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(timed_out(&self.endpoints, self.timeout));
        }
        let mut start = prefix.as_bytes().to_vec();
        let mut next = fetch(current(), start.clone(), 0, limit);
        let mut revision = 0i64;
        loop {
            let prefetched = (&mut next).await.unwrap_or(Prefetch::Failed);
            if let Prefetch::Hung(i) = &prefetched {
                // Used again only when nothing else is left.
                self.members[*i].set_health(Health::Slow);
            }
            let mut resp = match prefetched {
                Prefetch::Page(r) => *r,
                Prefetch::TimedOut => {
                    self.stalled
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    return Err(timed_out(&self.endpoints, self.timeout));
                }
                Prefetch::Hung(_) | Prefetch::Failed => {
                    let opts = opts_for(revision, limit);
                    self.call(true, "/etcdserverpb.KV/Range", |mut kv| {
                        let (k, o) = (start.clone(), opts.clone());
                        async move { kv.get(k, Some(o)).await }
                    })
                    .await?
                }
            };
            if revision == 0 {
                revision = resp.header().map(|h| h.revision()).unwrap_or(0);
            }
            let more = resp.more();
            let kvs = resp.take_kvs();
            let Some(last) = kvs.last() else { break };
            if more {
                start = last.key().to_vec();
                start.push(0);
                limit = (limit * 2).min(max_limit);
                next = fetch(current(), start.clone(), revision, limit);
                // Let the request go out before the CPU-bound page work below.
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
            }
            if let Err(e) = f(revision, kvs) {
                next.abort();
                return Err(e);
            }
            if !more {
                break;
            }
        }
        Ok(revision)
    }

    /// Decodes one page of a resource range, skipping foreign keys and (as libcalico does)
    /// unparsable values.
    fn decode_page(
        &self,
        kind: &'static KindInfo,
        opts: &ListOptions,
        kvs: &[KeyValue],
        f: &mut (dyn FnMut(Value) -> Result<()> + Send),
    ) -> Result<()> {
        for kv in kvs {
            let key = String::from_utf8_lossy(kv.key());
            if keys::parse_resource_key(kind, &key).is_none() {
                continue;
            }
            if let Ok(obj) = self.decode_resource(kind, kv) {
                if let Some(p) = &opts.name_prefix
                    && !meta::name(&obj).starts_with(p.as_str())
                {
                    continue;
                }
                f(obj)?;
            }
        }
        Ok(())
    }

    /// Turns a stored value into the canonical object we return.
    fn decode_resource(&self, kind: &'static KindInfo, kv: &KeyValue) -> Result<Value> {
        let key = String::from_utf8_lossy(kv.key()).to_string();
        let raw: Value = serde_json::from_slice(kv.value()).map_err(|e| {
            DatastoreError::Corrupt(format!("cannot parse the value of etcd key {key}: {e}"))
        })?;
        let mut obj = schema()
            .decode(&kind.type_name(), &raw, false)
            .map_err(|e| DatastoreError::Corrupt(format!("cannot decode etcd key {key}: {e}")))?;
        // The key is the source of truth for identity, as in libcalico's key parsing.
        let mut identity: Option<(String, String)> = None;
        if let Some((ns, name)) = keys::parse_resource_key(kind, &key) {
            let mut stored_name = name;
            if kind.flags.policy_name_annotation {
                let ann = meta::annotations(&obj);
                match ann.get(METADATA_ANNOTATION) {
                    Some(json) => {
                        if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(json)
                            && let Some(Value::String(n)) = m.get("name")
                        {
                            stored_name = n.clone();
                        }
                        meta::set_annotation(&mut obj, METADATA_ANNOTATION, None);
                    }
                    None => {
                        let tier = kinds_str(&obj, "tier");
                        if (tier.is_empty() || tier == "default")
                            && let Some(s) = stored_name.strip_prefix("default.")
                        {
                            stored_name = s.to_string();
                        }
                    }
                }
            }
            identity = Some((stored_name, ns));
        }
        if let Some(o) = obj.as_object_mut() {
            o.insert("kind".into(), Value::String(kind.kind.into()));
            o.insert(
                "apiVersion".into(),
                Value::String(crate::model::kinds::API_VERSION.into()),
            );
        }
        // Set in place: lists do this for every object.
        let rev = kv.mod_revision().to_string();
        match &identity {
            Some((name, ns)) if kind.namespaced => meta::set_meta_strs(
                &mut obj,
                &[("name", name), ("namespace", ns), ("resourceVersion", &rev)],
            ),
            Some((name, _)) => {
                meta::set_meta_strs(&mut obj, &[("name", name), ("resourceVersion", &rev)])
            }
            None => meta::set_meta_strs(&mut obj, &[("resourceVersion", &rev)]),
        }
        Ok(obj)
    }

    /// The JSON we store: no resourceVersion/selfLink; policies carry the name annotation.
    fn encode_resource(&self, kind: &'static KindInfo, obj: &Value) -> Result<(String, String)> {
        let mut o = obj.clone();
        let name = meta::name(&o);
        let ns = meta::namespace(&o);
        meta::edit_meta(&mut o, |m| {
            m.remove("resourceVersion");
            m.remove("selfLink");
        });
        if kind.flags.policy_name_annotation {
            let ann = to_go_json(&serde_json::json!({ "name": name }));
            meta::set_annotation(&mut o, METADATA_ANNOTATION, Some(&ann));
        }
        if let Some(m) = o.as_object_mut() {
            m.insert("kind".into(), Value::String(kind.kind.into()));
            m.insert(
                "apiVersion".into(),
                Value::String(crate::model::kinds::API_VERSION.into()),
            );
        }
        // libcalico's etcd encoder predates `omitzero`: empty rule sides are stored as `{}`.
        let canon = schema()
            .decode_ignoring_omitzero(&kind.type_name(), &o)
            .map_err(|e| DatastoreError::Other(format!("cannot encode {}: {e}", kind.kind)))?;
        Ok((keys::resource_key(kind, &ns, &name), to_go_json(&canon)))
    }

    /// Keys and values of a batch, or None when one cannot go into a transaction (it does
    /// not encode, it is the synthesised default-allow profile, or two share a key): those
    /// are done one by one, for their own results.
    fn encode_batch(&self, chunk: &[(&'static KindInfo, Value)]) -> Option<Vec<(String, String)>> {
        let mut encoded = Vec::with_capacity(chunk.len());
        let mut seen = std::collections::HashSet::new();
        for (k, o) in chunk {
            if is_default_allow(k, &meta::name(o)) {
                return None;
            }
            let kv = self.encode_resource(k, o).ok()?;
            if !seen.insert(kv.0.clone()) {
                return None;
            }
            encoded.push(kv);
        }
        Some(encoded)
    }

    fn default_allow_profile(&self) -> Value {
        let raw = serde_json::json!({
            "kind": "Profile",
            "apiVersion": crate::model::kinds::API_VERSION,
            "metadata": {"name": DEFAULT_ALLOW_PROFILE, "resourceVersion": "1"},
            "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}
        });
        schema().decode("v3.Profile", &raw, false).unwrap_or(raw)
    }
}

fn kinds_str(obj: &Value, spec_field: &str) -> String {
    obj.get("spec")
        .and_then(|s| s.get(spec_field))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The smallest key after every key with this prefix.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn timed_out(endpoints: &str, timeout: Duration) -> DatastoreError {
    DatastoreError::Connection(format!(
        "etcd at {endpoints} did not answer within {}s (check that the endpoint is reachable and that the scheme http/https is right)",
        timeout.as_secs_f64()
    ))
}

/// An error and its sources as one string.
fn error_chain(e: &etcd_client::Error) -> String {
    let mut chain = e.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        src = s.source();
    }
    chain
}

/// The member could not be reached, so the request was never delivered (safe to send
/// elsewhere, writes included).
fn unreachable(lower_chain: &str) -> bool {
    lower_chain.contains("connection refused")
        || lower_chain.contains("no route to host")
        || lower_chain.contains("dns error")
        || lower_chain.contains("network is unreachable")
}

/// The member answered the request with a refusal of its own (it is alive and speaks etcd's
/// gRPC), as opposed to a status made up by the client for a transport failure (gRPC codes
/// Cancelled, Unknown, DeadlineExceeded, Internal, Unavailable).
fn answered(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(st) if !matches!(st.code() as i32, 1 | 2 | 4 | 13 | 14))
}

/// The request went unanswered for the client's per-request timeout.
fn stall(lower_chain: &str) -> bool {
    lower_chain.contains("timeout expired") || lower_chain.contains("deadline exceeded")
}

/// The connection broke with the request possibly delivered: only reads may be repeated.
/// Every way the peer closes or resets a connection counts ([`closed`]), and so do the
/// transport failures tonic reports without saying how.
fn dropped(lower_chain: &str) -> bool {
    closed(lower_chain)
        || lower_chain.contains("transport error")
        || lower_chain.contains("unavailable")
}

/// The peer closed or reset the connection (the lowercased error chain says so).
fn closed(lower_chain: &str) -> bool {
    lower_chain.contains("broken pipe")
        || lower_chain.contains("brokenpipe")
        || lower_chain.contains("connection reset")
        // hyper's Debug form of the same (`Kind(ConnectionReset)`), which tonic's transport
        // error sometimes carries instead of the OS text.
        || lower_chain.contains("connectionreset")
        || lower_chain.contains("connection closed")
        || lower_chain.contains("h2 protocol error")
        || lower_chain.contains("frame with invalid size")
}

const NO_CLIENT_CERT: &str =
    "TLS: the server requires a client certificate (set etcdCertFile and etcdKeyFile)";

/// What a failure message may take into account besides the error.
struct Context<'a> {
    /// Every endpoint, as printed.
    endpoints: &'a str,
    timeout: Duration,
    /// The failing member's endpoint is https://.
    tls: bool,
    /// A client certificate is configured.
    client_cert: bool,
    /// The failure came on the first request of a new connection (the member's probe).
    first_contact: bool,
}

/// Names the endpoint and the likely cause, instead of gRPC's generic texts.
fn classify(e: &etcd_client::Error, cx: &Context) -> DatastoreError {
    // The server answered and refused the request itself (e.g. `etcdserver: request is too
    // large`): calicoctl reports etcd's own message; the connection was fine.
    if let etcd_client::Error::GRpcStatus(st) = e
        // gRPC codes InvalidArgument, ResourceExhausted, FailedPrecondition, OutOfRange
        // (transient ones such as `etcdserver: leader changed` are Unavailable).
        && matches!(st.code() as i32, 3 | 8 | 9 | 11)
        && st.message().starts_with("etcdserver: ")
    {
        return DatastoreError::Other(st.message().to_string());
    }
    let chain = error_chain(e);
    let lower = chain.to_lowercase();
    let closed = closed(&lower);
    let why = if lower.contains("unknownissuer")
        || lower.contains("unknown issuer")
        || lower.contains("unknownca")
    {
        "TLS: the server certificate is not signed by the configured CA (check etcdCACertFile)"
            .to_string()
    } else if lower.contains("certificate expired")
        || lower.contains("invalid peer certificate: expired")
        || lower.contains("certexpired")
        || lower.contains("expired certificate")
        || lower.contains("certificate has expired")
    {
        "TLS: a certificate has expired (check the client and server certificates)".to_string()
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        "TLS: the server certificate does not match the endpoint host name".to_string()
    } else if lower.contains("certificate required")
        || lower.contains("certificaterequired")
        || lower.contains("handshake failure")
        || lower.contains("handshakefailure")
        || lower.contains("bad certificate")
        || lower.contains("badcertificate")
    {
        if cx.client_cert {
            "TLS: the server rejected the client certificate or requires one (check etcdCertFile/etcdKeyFile)".to_string()
        } else {
            NO_CLIENT_CERT.to_string()
        }
    } else if lower.contains("invalidcontenttype")
        || lower.contains("corrupt message")
        || lower.contains("received corrupt")
        || lower.contains("wrong version number")
        || lower.contains("tls handshake eof")
        // Closed or reset while connecting, i.e. during the TLS handshake (a TLS server that
        // wants a client certificate hangs up after it).
        || (closed && cx.tls && lower.contains("connecterror"))
    {
        "TLS handshake failed: the endpoint does not speak TLS (use http:// in etcdEndpoints)"
            .to_string()
    } else if closed && cx.first_contact && cx.tls && !cx.client_cert {
        // A TLS 1.3 server checks the client certificate after the handshake: its alert may
        // or may not be read before it hangs up, so both give the same line.
        NO_CLIENT_CERT.to_string()
    } else if closed && cx.first_contact && !cx.tls {
        "the connection was dropped; if the endpoint uses TLS, use https:// and set the certificates".to_string()
    } else if closed {
        "the connection was dropped (the member may have stopped or restarted)".to_string()
    } else if lower.contains("connection refused") {
        "connection refused".to_string()
    } else if lower.contains("timed out")
        || lower.contains("timeout expired")
        || lower.contains("deadline")
        || lower.contains("elapsed")
    {
        format!("no answer within {}s", cx.timeout.as_secs_f64())
    } else if lower.contains("authentication failed") || lower.contains("invalid auth") {
        "authentication failed: invalid etcd username or password".to_string()
    } else if lower.contains("permission denied") || lower.contains("user name is empty") {
        format!("permission denied: {chain}")
    } else {
        chain.clone()
    };
    // The cause may quote the URL it tried, credentials included.
    let why = crate::log::redact_url_passwords(&why);
    DatastoreError::Connection(format!(
        "error connecting to etcd at {}: {why}",
        cx.endpoints
    ))
}

#[async_trait]
impl Datastore for EtcdDatastore {
    fn backend(&self) -> Backend {
        Backend::Etcd
    }

    async fn get(&self, kind: &'static KindInfo, namespace: &str, name: &str) -> Result<Value> {
        if is_default_allow(kind, name) {
            return Ok(self.default_allow_profile());
        }
        let key = keys::resource_key(kind, namespace, name);
        let resp = self
            .call(true, "/etcdserverpb.KV/Range", |mut kv| {
                let k = key.clone();
                async move { kv.get(k, None).await }
            })
            .await?;
        match resp.kvs().first() {
            Some(item) => self.decode_resource(kind, item),
            None => Err(DatastoreError::not_found(resource_id(
                kind.kind, namespace, name,
            ))),
        }
    }

    async fn list(&self, kind: &'static KindInfo, opts: &ListOptions) -> Result<ObjectList> {
        let prefix = keys::resource_list_prefix(
            kind,
            opts.namespace.as_deref(),
            opts.name_prefix.as_deref(),
        );
        let mut items = Vec::new();
        let revision = self
            .range_pages(&prefix, &mut |_, kvs| {
                self.decode_page(kind, opts, &kvs, &mut |o| {
                    items.push(o);
                    Ok(())
                })
            })
            .await?;
        if kind.hooks.client == ClientRule::DefaultAllowProfile
            && opts
                .name_prefix
                .as_deref()
                .is_none_or(|p| DEFAULT_ALLOW_PROFILE.starts_with(p))
        {
            let pos = items
                .iter()
                .position(|o| meta::name(o).as_str() > DEFAULT_ALLOW_PROFILE)
                .unwrap_or(items.len());
            items.insert(pos, self.default_allow_profile());
        }
        Ok(ObjectList {
            items,
            revision: revision.to_string(),
        })
    }

    async fn scan_pages(
        &self,
        kind: &'static KindInfo,
        opts: &ListOptions,
        f: &mut (dyn for<'r> FnMut(&'r str, Vec<Value>) -> Result<()> + Send),
    ) -> Result<String> {
        if kind.hooks.client == ClientRule::DefaultAllowProfile {
            // The synthesised default-allow profile is merged in order; profiles are few.
            return super::one_page(self.list(kind, opts).await?, f);
        }
        let prefix = keys::resource_list_prefix(
            kind,
            opts.namespace.as_deref(),
            opts.name_prefix.as_deref(),
        );
        let mut rev_text = String::new();
        let revision = self
            .range_pages(&prefix, &mut |rev, kvs| {
                if rev_text.is_empty() {
                    rev_text = rev.to_string();
                }
                // Decoded objects are several times larger than their stored bytes: hand them
                // on in small batches rather than decoding a whole etcd page first.
                for chunk in kvs.chunks(DECODE_BATCH) {
                    let mut page = Vec::with_capacity(chunk.len());
                    self.decode_page(kind, opts, chunk, &mut |o| {
                        page.push(o);
                        Ok(())
                    })?;
                    f(&rev_text, page)?;
                }
                Ok(())
            })
            .await?;
        Ok(revision.to_string())
    }

    async fn scan_stored(
        &self,
        kind: &'static KindInfo,
        f: &mut (dyn for<'r> FnMut(&'r str, &'r str, &'r [u8]) -> Result<()> + Send),
    ) -> Result<bool> {
        let prefix = keys::resource_list_prefix(kind, None, None);
        self.range_pages(&prefix, &mut |_, kvs| {
            for kv in &kvs {
                let key = String::from_utf8_lossy(kv.key());
                if let Some((ns, name)) = keys::parse_resource_key(kind, &key) {
                    f(&ns, &name, kv.value())?;
                }
            }
            Ok(())
        })
        .await?;
        Ok(true)
    }

    async fn create(&self, kind: &'static KindInfo, obj: &Value) -> Result<Value> {
        let name = meta::name(obj);
        let ns = meta::namespace(obj);
        let (key, value) = self.encode_resource(kind, obj)?;
        let resp = self
            .cas(
                Cas::new(vec![(key.clone(), None)], vec![(key.clone(), Some(value))])
                    .otherwise_get(&[key], false),
            )
            .await?;
        if !resp.succeeded {
            return Err(DatastoreError::AlreadyExists {
                id: resource_id(kind.kind, &ns, &name),
                inner: "<nil>".into(),
            });
        }
        let rev = resp.revision;
        let mut out = obj.clone();
        meta::set_meta_str(&mut out, "resourceVersion", Some(&rev.to_string()));
        Ok(out)
    }

    /// Creates in transactions of up to `BATCH` keys, each all-or-nothing on "absent". When a
    /// chunk fails, the transaction's other branch says which keys exist: those are reported as
    /// existing and the rest is tried again, so re-applying existing objects costs one request
    /// per chunk, not one per object.
    async fn create_many(&self, kind_objs: &[(&'static KindInfo, Value)]) -> Vec<Result<Value>> {
        let mut out: Vec<Result<Value>> = Vec::with_capacity(kind_objs.len());
        for chunk in kind_objs.chunks(BATCH) {
            let Some(encoded) = self.encode_batch(chunk) else {
                for (k, o) in chunk {
                    out.push(self.create(k, o).await);
                }
                continue;
            };
            let mut results: Vec<Option<Result<Value>>> = vec![None; chunk.len()];
            let mut todo: Vec<usize> = (0..chunk.len()).collect();
            while !todo.is_empty() {
                let keys: Vec<String> = todo.iter().map(|i| encoded[*i].0.clone()).collect();
                let cas = Cas::new(
                    keys.iter().map(|k| (k.clone(), None)).collect(),
                    todo.iter()
                        .map(|i| (encoded[*i].0.clone(), Some(encoded[*i].1.clone())))
                        .collect(),
                )
                .otherwise_get(&keys, true);
                match self.cas(cas).await {
                    Ok(resp) if resp.succeeded => {
                        let rev = resp.revision.to_string();
                        for i in todo.drain(..) {
                            let mut v = chunk[i].1.clone();
                            meta::set_meta_str(&mut v, "resourceVersion", Some(&rev));
                            results[i] = Some(Ok(v));
                        }
                    }
                    Ok(resp) => {
                        let exists: Vec<bool> = resp
                            .ops
                            .iter()
                            .map(|r| matches!(r, TxnOpResponse::Get(g) if g.count() > 0))
                            .collect();
                        let before = todo.len();
                        let mut left = Vec::with_capacity(before);
                        for (n, i) in todo.drain(..).enumerate() {
                            if exists.get(n).copied().unwrap_or(false) {
                                let (k, o) = &chunk[i];
                                results[i] = Some(Err(DatastoreError::AlreadyExists {
                                    id: resource_id(k.kind, &meta::namespace(o), &meta::name(o)),
                                    inner: "<nil>".into(),
                                }));
                            } else {
                                left.push(i);
                            }
                        }
                        if left.len() == before {
                            // Nothing existed yet the compare failed: settle them one by one.
                            for i in left {
                                let (k, o) = &chunk[i];
                                results[i] = Some(self.create(k, o).await);
                            }
                        } else {
                            todo = left;
                        }
                    }
                    Err(e) => {
                        for i in todo.drain(..) {
                            results[i] = Some(Err(e.clone()));
                        }
                    }
                }
            }
            out.extend(
                results.into_iter().map(|r| {
                    r.unwrap_or_else(|| Err(DatastoreError::Other("not attempted".into())))
                }),
            );
        }
        out
    }

    /// Reads in read-only transactions of up to `BATCH` keys, all of a chunk at one revision.
    async fn get_many(&self, ids: &[(&'static KindInfo, String, String)]) -> Vec<Result<Value>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH) {
            let ops: Vec<TxnOp> = chunk
                .iter()
                .map(|(k, ns, name)| TxnOp::get(keys::resource_key(k, ns, name), None))
                .collect();
            let resp = match self.read_txn(Txn::new().and_then(ops)).await {
                Ok(r) => r,
                Err(e) => {
                    out.extend(chunk.iter().map(|_| Err(e.clone())));
                    continue;
                }
            };
            for ((k, ns, name), r) in chunk.iter().zip(resp.op_responses()) {
                let found = match &r {
                    TxnOpResponse::Get(g) => g.kvs().first(),
                    _ => None,
                };
                out.push(match found {
                    _ if is_default_allow(k, name) => Ok(self.default_allow_profile()),
                    Some(kv) => self.decode_resource(k, kv),
                    None => Err(DatastoreError::not_found(resource_id(k.kind, ns, name))),
                });
            }
        }
        out
    }

    /// Updates in transactions of up to `BATCH` keys, each all-or-nothing on every key's
    /// revision; a chunk in which any compare fails is redone one object at a time for
    /// per-object results (conflict, not found).
    async fn update_many(&self, kind_objs: &[(&'static KindInfo, Value)]) -> Vec<Result<Value>> {
        let mut out: Vec<Result<Value>> = Vec::with_capacity(kind_objs.len());
        for chunk in kind_objs.chunks(BATCH) {
            let revs: Option<Vec<i64>> = chunk
                .iter()
                .map(|(_, o)| meta::resource_version(o).parse().ok())
                .collect();
            let (Some(encoded), Some(revs)) = (self.encode_batch(chunk), revs) else {
                for (k, o) in chunk {
                    out.push(self.update(k, o).await);
                }
                continue;
            };
            let cas = Cas::new(
                encoded
                    .iter()
                    .zip(&revs)
                    .map(|((k, _), r)| (k.clone(), Some(*r)))
                    .collect(),
                encoded.into_iter().map(|(k, v)| (k, Some(v))).collect(),
            );
            match self.cas(cas).await {
                Ok(resp) if resp.succeeded => {
                    let rev = resp.revision.to_string();
                    for (_, o) in chunk {
                        let mut v = o.clone();
                        meta::set_meta_str(&mut v, "resourceVersion", Some(&rev));
                        out.push(Ok(v));
                    }
                }
                Ok(_) => {
                    for (k, o) in chunk {
                        out.push(self.update(k, o).await);
                    }
                }
                Err(e) => out.extend(chunk.iter().map(|_| Err(e.clone()))),
            }
        }
        out
    }

    async fn update(&self, kind: &'static KindInfo, obj: &Value) -> Result<Value> {
        let name = meta::name(obj);
        let ns = meta::namespace(obj);
        let id = resource_id(kind.kind, &ns, &name);
        let rv = meta::resource_version(obj);
        let rev: i64 = rv.parse().map_err(|_| {
            DatastoreError::Other(format!(
                "error with field Metadata.ResourceVersion = '{rv}' (field must be set for an Update request)"
            ))
        })?;
        let (key, value) = self.encode_resource(kind, obj)?;
        let cas = Cas::new(
            vec![(key.clone(), Some(rev))],
            vec![(key.clone(), Some(value))],
        )
        .otherwise_get(&[key], false);
        let resp = self.cas(cas).await?;
        if !resp.succeeded {
            return Err(if exists(&resp.ops) {
                DatastoreError::Conflict { id }
            } else {
                DatastoreError::not_found(id)
            });
        }
        let rev = resp.revision;
        let mut out = obj.clone();
        meta::set_meta_str(&mut out, "resourceVersion", Some(&rev.to_string()));
        Ok(out)
    }

    async fn delete(
        &self,
        kind: &'static KindInfo,
        namespace: &str,
        name: &str,
        revision: Option<&str>,
    ) -> Result<Value> {
        let id = resource_id(kind.kind, namespace, name);
        let key = keys::resource_key(kind, namespace, name);
        let mut expect = Vec::new();
        if let Some(r) = revision.filter(|r| !r.is_empty()) {
            let rev: i64 = r
                .parse()
                .map_err(|_| DatastoreError::Conflict { id: id.clone() })?;
            expect.push((key.clone(), Some(rev)));
        }
        let mut cas = Cas::new(expect, vec![(key.clone(), None)]).otherwise_get(&[key], false);
        cas.prev = true;
        let resp = self.cas(cas).await?;
        if !resp.succeeded {
            return Err(if exists(&resp.ops) {
                DatastoreError::Conflict { id }
            } else {
                DatastoreError::not_found(id)
            });
        }
        if resp.ops.is_empty() {
            // Learnt by reading back after the reply was lost: the deleted value is gone with
            // it, only the identity is known.
            return Ok(identity(kind, namespace, name));
        }
        for op in &resp.ops {
            if let TxnOpResponse::Delete(d) = op {
                if d.deleted() == 0 {
                    return Err(DatastoreError::not_found(id));
                }
                if let Some(prev) = d.prev_kvs().first() {
                    return self.decode_resource(kind, prev);
                }
            }
        }
        Err(DatastoreError::not_found(id))
    }

    async fn ipam_get(&self, key: &IpamKey) -> Result<IpamKv> {
        let k = keys::ipam_key(key);
        let resp = self
            .call(true, "/etcdserverpb.KV/Range", |mut kv| {
                let k = k.clone();
                async move { kv.get(k, None).await }
            })
            .await?;
        let Some(item) = resp.kvs().first() else {
            return Err(DatastoreError::NotFound {
                id: ipam_id(key),
                inner: "<nil>".into(),
            });
        };
        decode_ipam_kv(key.clone(), item)
    }

    async fn ipam_get_many(&self, ks: &[IpamKey]) -> Result<Vec<Option<IpamKv>>> {
        let mut out = Vec::with_capacity(ks.len());
        for chunk in ks.chunks(120) {
            let ops: Vec<TxnOp> = chunk
                .iter()
                .map(|k| TxnOp::get(keys::ipam_key(k), None))
                .collect();
            let resp = self.read_txn(Txn::new().and_then(ops)).await?;
            for (k, r) in chunk.iter().zip(resp.op_responses()) {
                match r {
                    TxnOpResponse::Get(g) => match g.kvs().first() {
                        Some(item) => out.push(Some(decode_ipam_kv(k.clone(), item)?)),
                        None => out.push(None),
                    },
                    _ => out.push(None),
                }
            }
        }
        Ok(out)
    }

    async fn ipam_list(&self, list: &IpamList) -> Result<Vec<IpamKv>> {
        let mut out = Vec::new();
        self.ipam_scan(list, &mut |kv| {
            out.push(kv);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    async fn ipam_scan(
        &self,
        list: &IpamList,
        f: &mut (dyn FnMut(IpamKv) -> Result<()> + Send),
    ) -> Result<()> {
        for prefix in keys::ipam_list_prefix(list) {
            self.range_pages(&prefix, &mut |_, kvs| {
                for item in &kvs {
                    let k = String::from_utf8_lossy(item.key());
                    let Some(key) = keys::parse_ipam_key(&k) else {
                        continue;
                    };
                    let wanted = match (list, &key) {
                        (IpamList::Blocks { .. }, IpamKey::Block(_)) => true,
                        (IpamList::Affinities { version, .. }, IpamKey::Affinity { cidr, .. }) => {
                            version.is_none_or(|v| (v == 4) == cidr.addr().is_ipv4())
                        }
                        (IpamList::Handles, IpamKey::Handle(_)) => true,
                        _ => false,
                    };
                    if wanted {
                        f(decode_ipam_kv(key, item)?)?;
                    }
                }
                Ok(())
            })
            .await?;
        }
        Ok(())
    }

    async fn ipam_create(&self, kv: &IpamKv) -> Result<IpamKv> {
        let k = keys::ipam_key(&kv.key);
        let cas = Cas::new(
            vec![(k.clone(), None)],
            vec![(k.clone(), Some(ipam::encode(&kv.value)))],
        )
        .otherwise_get(&[k], false);
        let resp = self.cas(cas).await?;
        if !resp.succeeded {
            return Err(DatastoreError::AlreadyExists {
                id: ipam_id(&kv.key),
                inner: "<nil>".into(),
            });
        }
        let mut out = kv.clone();
        out.revision = resp.revision.to_string();
        Ok(out)
    }

    async fn ipam_update(&self, kv: &IpamKv) -> Result<IpamKv> {
        let k = keys::ipam_key(&kv.key);
        let rev: i64 = kv.revision.parse().map_err(|_| DatastoreError::Conflict {
            id: ipam_id(&kv.key),
        })?;
        let cas = Cas::new(
            vec![(k.clone(), Some(rev))],
            vec![(k.clone(), Some(ipam::encode(&kv.value)))],
        )
        .otherwise_get(&[k], false);
        let resp = self.cas(cas).await?;
        if !resp.succeeded {
            let id = ipam_id(&kv.key);
            return Err(if exists(&resp.ops) {
                DatastoreError::Conflict { id }
            } else {
                DatastoreError::NotFound {
                    id,
                    inner: "<nil>".into(),
                }
            });
        }
        let mut out = kv.clone();
        out.revision = resp.revision.to_string();
        Ok(out)
    }

    async fn ipam_txn(&self, deletes: &[IpamKv], updates: &[IpamKv]) -> Result<bool> {
        let mut expect = Vec::new();
        let mut writes = Vec::new();
        for (kv, delete) in deletes
            .iter()
            .map(|k| (k, true))
            .chain(updates.iter().map(|k| (k, false)))
        {
            let k = keys::ipam_key(&kv.key);
            let rev: i64 = kv.revision.parse().map_err(|_| DatastoreError::Conflict {
                id: ipam_id(&kv.key),
            })?;
            expect.push((k.clone(), Some(rev)));
            writes.push((k, (!delete).then(|| ipam::encode(&kv.value))));
        }
        if writes.is_empty() {
            return Ok(true);
        }
        Ok(self.cas(Cas::new(expect, writes)).await?.succeeded)
    }

    async fn ipam_delete(&self, kv: &IpamKv) -> Result<()> {
        let k = keys::ipam_key(&kv.key);
        let mut expect = Vec::new();
        if !kv.revision.is_empty() {
            let rev: i64 = kv.revision.parse().map_err(|_| DatastoreError::Conflict {
                id: ipam_id(&kv.key),
            })?;
            expect.push((k.clone(), Some(rev)));
        }
        let cas = Cas::new(expect, vec![(k.clone(), None)]).otherwise_get(&[k], false);
        let resp = self.cas(cas).await?;
        let id = ipam_id(&kv.key);
        if !resp.succeeded {
            return Err(if exists(&resp.ops) {
                DatastoreError::Conflict { id }
            } else {
                DatastoreError::NotFound {
                    id,
                    inner: "<nil>".into(),
                }
            });
        }
        // No responses: learnt by reading back, the key is gone.
        let deleted = resp.ops.is_empty()
            || resp
                .ops
                .iter()
                .any(|r| matches!(r, TxnOpResponse::Delete(d) if d.deleted() > 0));
        if !deleted {
            return Err(DatastoreError::NotFound {
                id,
                inner: "<nil>".into(),
            });
        }
        Ok(())
    }

    async fn ipam_put(&self, kv: &IpamKv) -> Result<IpamKv> {
        let k = keys::ipam_key(&kv.key);
        let resp = self
            .cas(Cas::new(vec![], vec![(k, Some(ipam::encode(&kv.value)))]))
            .await?;
        let mut out = kv.clone();
        out.revision = resp.revision.to_string();
        Ok(out)
    }

    async fn felix_reports(&self) -> Result<Vec<FelixReport>> {
        let mut out = Vec::new();
        for prefix in ["/calico/felix/v2/", "/calico/felix/v1/"] {
            let (kvs, _) = self.range(prefix).await?;
            for kv in kvs {
                let key = String::from_utf8_lossy(kv.key()).to_string();
                let parts: Vec<&str> = key.split('/').collect();
                // /calico/felix/v2/<region>/host/<host>/(status|last_reported_status)
                let host_idx = parts.iter().position(|p| *p == "host");
                let Some(h) = host_idx.and_then(|i| parts.get(i + 1)) else {
                    continue;
                };
                let last = parts.last().copied().unwrap_or_default();
                if last != "status" && last != "last_reported_status" {
                    continue;
                }
                let time = serde_json::from_slice::<Value>(kv.value())
                    .ok()
                    .and_then(|v| v.get("time").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or_default();
                out.push(FelixReport {
                    host: h.to_string(),
                    key,
                    time,
                });
            }
        }
        Ok(out)
    }

    async fn put_felix_report(&self, host: &str, time: &str) -> Result<()> {
        let key = format!("/calico/felix/v2/no-region/host/{host}/last_reported_status");
        let value =
            to_go_json(&serde_json::json!({"time": time, "uptime": 3600.0, "first_update": false}));
        self.cas(Cas::new(vec![], vec![(key, Some(value))]))
            .await
            .map(|_| ())
    }

    async fn delete_felix_keys(&self, host: &str, known: &[String]) -> Result<usize> {
        // Status, last_reported_status and endpoint status keys all sit under
        // /calico/felix/v1|v2/<region>/host/<host>/ (the v1 layout has no region).
        let marker = format!("/host/{host}/");
        let host_dir = |key: &str| {
            key.find(&marker)
                .map(|i| key[..i + marker.len()].to_string())
        };
        let mut prefixes: std::collections::BTreeSet<String> =
            known.iter().filter_map(|k| host_dir(k)).collect();
        if prefixes.is_empty() {
            for base in ["/calico/felix/v2/", "/calico/felix/v1/"] {
                let (kvs, _) = self.range(base).await?;
                for kv in &kvs {
                    if let Some(p) = host_dir(&String::from_utf8_lossy(kv.key())) {
                        prefixes.insert(p);
                    }
                }
            }
        }
        let mut n = 0usize;
        for p in prefixes {
            let r = self
                .call(false, "/etcdserverpb.KV/DeleteRange", |mut kv| {
                    let p = p.clone();
                    async move {
                        let opts = etcd_client::DeleteOptions::new().with_prefix();
                        kv.delete(p, Some(opts)).await
                    }
                })
                .await?;
            n += r.deleted() as usize;
        }
        Ok(n)
    }
}

/// Whether a failed transaction's else branch found its key.
fn exists(ops: &[TxnOpResponse]) -> bool {
    ops.iter()
        .any(|r| matches!(r, TxnOpResponse::Get(g) if !g.kvs().is_empty()))
}

/// An object known only by its identity.
fn identity(kind: &'static KindInfo, namespace: &str, name: &str) -> Value {
    let mut meta = serde_json::Map::new();
    meta.insert("name".into(), Value::String(name.into()));
    if !namespace.is_empty() {
        meta.insert("namespace".into(), Value::String(namespace.into()));
    }
    serde_json::json!({
        "kind": kind.kind,
        "apiVersion": crate::model::kinds::API_VERSION,
        "metadata": meta,
    })
}

fn ipam_id(key: &IpamKey) -> String {
    match key {
        IpamKey::Block(c) => format!("BlockKey(cidr={c})"),
        IpamKey::Affinity { host, cidr, .. } => {
            format!("BlockAffinityKey(cidr={cidr}, host={host})")
        }
        IpamKey::Handle(h) => format!("IPAMHandleKey(id={h})"),
        IpamKey::Config => "IPAMConfigKey()".to_string(),
    }
}

fn decode_ipam_kv(key: IpamKey, item: &KeyValue) -> Result<IpamKv> {
    let raw = String::from_utf8_lossy(item.value());
    let value: IpamValue = ipam::decode(&key, &raw).map_err(|e| {
        DatastoreError::Corrupt(format!(
            "corrupt IPAM value at etcd key {}: {e}",
            String::from_utf8_lossy(item.key())
        ))
    })?;
    Ok(IpamKv {
        key,
        value,
        revision: item.mod_revision().to_string(),
        uid: None,
    })
}

/// For callers that only know a Kind string (e.g. migration).
pub fn kind_info(kind: &str) -> Option<&'static KindInfo> {
    by_kind(kind)
}

#[cfg(test)]
mod tests {
    use super::{closed, dropped};

    #[test]
    fn a_reset_reads_as_closed_in_either_spelling() {
        // Both seen from a plain-HTTP client talking to a TLS member.
        for chain in [
            "grpc request error: code: 'unknown error', message: \"transport error\", source: tonic::transport::error(transport, hyper::error(io, kind(connectionreset)))",
            "transport error: connection reset by peer (os error 104)",
        ] {
            assert!(closed(chain), "{chain}");
            assert!(dropped(chain), "{chain}");
        }
        assert!(!closed("connection refused"));
        assert!(!dropped("connection refused"));
        // A reset in hyper's Debug form alone, without tonic's "transport error" around it,
        // is still a dropped connection (a read is repeated on another member).
        assert!(dropped("hyper::error(io, kind(connectionreset))"));
        assert!(dropped(
            "status: unavailable, message: \"h2 protocol error\""
        ));
        assert!(!closed("status: unavailable"));
    }
}
