//! Compare-and-swap transactions whose outcome can be learnt when the reply is lost.
//!
//! A write whose member dropped the connection or stopped answering after it was sent may or
//! may not have been applied. Every write of this backend compares each key it writes, so its
//! outcome shows in the keys: the written values are there (applied), or the compared state
//! still holds (not applied, and a retry on another member can apply it at most once). A
//! retry that then finds its compare failed reads the keys back once more, in case the first
//! attempt was applied in the meantime.

use etcd_client::{Compare, CompareOp, DeleteOptions, GetOptions, Txn, TxnOp, TxnOpResponse};

use super::{EtcdDatastore, Failed};
use crate::datastore::{DatastoreError, Result};

/// etcd's Go client's bound on a request (`MaxCallSendMsgSize`, 2 MiB): larger ones fail
/// before they are sent.
const GO_CLIENT_SEND_LIMIT: usize = 2 << 20;

/// A transaction in a form its outcome can be read back from.
#[derive(Debug, Clone, Default)]
pub(super) struct Cas {
    /// The state each compared key must be in: `None` absent, `Some(r)` at mod revision `r`.
    pub expect: Vec<(String, Option<i64>)>,
    /// What success does to each key: put the value, or delete it (`None`).
    pub writes: Vec<(String, Option<String>)>,
    /// Deletes return the deleted value.
    pub prev: bool,
    /// The keys failure reads (the transaction's else branch).
    pub otherwise: Vec<String>,
    /// Failure only counts them.
    pub count_only: bool,
}

/// A transaction's outcome.
pub(super) struct TxnResult {
    pub succeeded: bool,
    /// The store revision after the transaction.
    pub revision: i64,
    /// The branch's responses; empty when the outcome was learnt by reading the keys back.
    pub ops: Vec<TxnOpResponse>,
}

/// What reading a transaction's keys back showed.
enum Settled {
    /// Every write is in place (at this revision).
    Applied(i64),
    /// Not applied: each written key's mod revision, `None` when absent.
    Pending(Vec<(String, Option<i64>)>),
}

impl Cas {
    /// Compares each key in `expect`, then writes `writes`.
    pub fn new(expect: Vec<(String, Option<i64>)>, writes: Vec<(String, Option<String>)>) -> Cas {
        Cas {
            expect,
            writes,
            ..Cas::default()
        }
    }

    /// With an else branch that reads each key (`get`) or counts it (`count`).
    pub fn otherwise_get(mut self, keys: &[String], count_only: bool) -> Cas {
        self.otherwise = keys.to_vec();
        self.count_only = count_only;
        self
    }

    fn txn(&self) -> Txn {
        let compares: Vec<Compare> = self
            .expect
            .iter()
            .map(|(k, e)| match e {
                None => Compare::version(k.clone(), CompareOp::Equal, 0),
                Some(r) => Compare::mod_revision(k.clone(), CompareOp::Equal, *r),
            })
            .collect();
        let ops: Vec<TxnOp> = self
            .writes
            .iter()
            .map(|(k, v)| match v {
                Some(v) => TxnOp::put(k.clone(), v.clone(), None),
                None => TxnOp::delete(
                    k.clone(),
                    self.prev.then(|| DeleteOptions::new().with_prev_key()),
                ),
            })
            .collect();
        let txn = Txn::new().when(compares).and_then(ops);
        if self.otherwise.is_empty() {
            return txn;
        }
        let opts = || {
            self.count_only
                .then(|| GetOptions::new().with_keys_only().with_count_only())
        };
        txn.or_else(
            self.otherwise
                .iter()
                .map(|k| TxnOp::get(k.clone(), opts()))
                .collect::<Vec<_>>(),
        )
    }

    /// The size of the transaction as protobuf (etcd's `TxnRequest`), as etcd's Go client
    /// measures it against its send limit.
    fn encoded_len(&self) -> usize {
        fn varint(v: u64) -> usize {
            (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
        }
        // A length-delimited field (key, value, embedded message) with a one-byte tag.
        fn field(len: usize) -> usize {
            1 + varint(len as u64) + len
        }
        let compares: usize = self
            .expect
            .iter()
            .map(|(k, e)| {
                let body = field(k.len())
                    + match e {
                        // target VERSION (0) is not written; version = 0 is (a oneof).
                        None => 2,
                        // target MOD, mod_revision.
                        Some(r) => 2 + 1 + varint(*r as u64),
                    };
                field(body)
            })
            .sum();
        let writes: usize = self
            .writes
            .iter()
            .map(|(k, v)| {
                let request = match v {
                    Some(v) if v.is_empty() => field(k.len()),
                    Some(v) => field(k.len()) + field(v.len()),
                    None => field(k.len()) + if self.prev { 2 } else { 0 },
                };
                field(field(request))
            })
            .sum();
        // keys_only and count_only: two bytes each.
        let otherwise: usize = self
            .otherwise
            .iter()
            .map(|k| field(field(field(k.len()) + if self.count_only { 4 } else { 0 })))
            .sum();
        compares + writes + otherwise
    }

    /// Makes every written key compared, at the state read back: a write sent again then
    /// applies only where the first one did not.
    fn pin(&mut self, state: Vec<(String, Option<i64>)>) {
        for (k, rev) in state {
            if !self.expect.iter().any(|(e, _)| *e == k) {
                self.expect.push((k, rev));
            }
        }
    }
}

impl EtcdDatastore {
    /// Runs a compare-and-swap transaction. When the reply is lost (see the module doc) the
    /// keys are read back from another member: applied, it succeeded; not applied, it is sent
    /// again, pinned to what was read. Only when the keys cannot be read back either is the
    /// write reported as failed, saying that it may have been applied.
    pub(super) async fn cas(&self, mut c: Cas) -> Result<TxnResult> {
        let mut retried = false;
        let mut last = None;
        let size = c.encoded_len();
        if size > GO_CLIENT_SEND_LIMIT {
            let text = format!(
                "rpc error: code = ResourceExhausted desc = trying to send message larger than max ({size} vs. {GO_CLIENT_SEND_LIMIT})"
            );
            super::go_client_warning(&self.members[0].endpoint, "/etcdserverpb.KV/Txn", &text);
            return Err(DatastoreError::Other(text));
        }
        for _ in 0..=self.members.len() {
            let txn = c.txn();
            let sent = self
                .send(false, "/etcdserverpb.KV/Txn", |mut kv| {
                    let t = txn.clone();
                    async move { kv.txn(t).await }
                })
                .await;
            match sent {
                Ok(resp) => {
                    let r = TxnResult {
                        succeeded: resp.succeeded(),
                        revision: resp.header().map(|h| h.revision()).unwrap_or(0),
                        ops: resp.op_responses(),
                    };
                    if !r.succeeded
                        && retried
                        && let Ok(Settled::Applied(rev)) = self.read_back(&c).await
                    {
                        return Ok(applied(rev));
                    }
                    return Ok(r);
                }
                Err(Failed::Error(e)) => return Err(e),
                Err(Failed::Unknown(e)) => match self.read_back(&c).await {
                    Ok(Settled::Applied(rev)) => return Ok(applied(rev)),
                    Ok(Settled::Pending(state)) => {
                        c.pin(state);
                        retried = true;
                        last = Some(e);
                    }
                    Err(read) => return Err(unknown_outcome(&e, &read)),
                },
            }
        }
        Err(last.unwrap_or_else(|| DatastoreError::Other("no etcd member left".into())))
    }

    /// Reads the written keys (at one revision) to learn whether `c` was applied.
    async fn read_back(&self, c: &Cas) -> Result<Settled> {
        let gets: Vec<TxnOp> = c
            .writes
            .iter()
            .map(|(k, _)| TxnOp::get(k.clone(), None))
            .collect();
        let resp = self.read_txn(Txn::new().and_then(gets)).await?;
        let header_rev = resp.header().map(|h| h.revision()).unwrap_or(0);
        let mut applied = true;
        let mut rev = 0;
        let mut state = Vec::with_capacity(c.writes.len());
        for ((k, v), r) in c.writes.iter().zip(resp.op_responses()) {
            let found = match &r {
                TxnOpResponse::Get(g) => g.kvs().first(),
                _ => None,
            };
            let expected = c.expect.iter().find(|(e, _)| e == k).map(|(_, r)| *r);
            let in_place = match (v, found) {
                (None, None) => true,
                (Some(v), Some(kv)) => {
                    kv.value() == v.as_bytes() && expected != Some(Some(kv.mod_revision()))
                }
                _ => false,
            };
            applied &= in_place;
            if let Some(kv) = found {
                rev = rev.max(kv.mod_revision());
            }
            state.push((k.clone(), found.map(|kv| kv.mod_revision())));
        }
        Ok(if applied {
            Settled::Applied(if rev == 0 { header_rev } else { rev })
        } else {
            Settled::Pending(state)
        })
    }
}

fn applied(revision: i64) -> TxnResult {
    TxnResult {
        succeeded: true,
        revision,
        ops: Vec::new(),
    }
}

/// A write cut off whose keys could not be read back either.
fn unknown_outcome(e: &DatastoreError, read: &DatastoreError) -> DatastoreError {
    DatastoreError::Connection(format!(
        "{e}; the write may have been applied (reading it back failed: {read})"
    ))
}
