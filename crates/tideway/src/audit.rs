//! The audit writer: takes records from the call path without waiting (a bounded
//! queue) and writes them to the store in batches from one task. A failed write is
//! retried; on shutdown the queue is drained before the store closes, so a clean
//! stop loses nothing. If the store stays down long enough for the queue to fill,
//! further records are counted as dropped and logged rather than slowing calls.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use prometheus_client::metrics::counter::Counter;

use tideway_core::{
    Store,
    audit::{AuditRecord, AuditSink},
};
use tokio::{sync::mpsc, task::JoinHandle};

const QUEUE: usize = 65_536;
const BATCH: usize = 512;
const WRITE_ATTEMPTS: u32 = 5;
const LINGER: Duration = Duration::from_millis(20);

pub struct AuditWriter {
    sender: Mutex<Option<mpsc::Sender<AuditRecord>>>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// Exported as `tideway_audit_records_dropped_total`.
    dropped: Counter,
}

impl AuditWriter {
    pub fn start(store: Store, dropped: Counter) -> Arc<Self> {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let task = tokio::spawn(write_loop(store, receiver));
        Arc::new(AuditWriter {
            sender: Mutex::new(Some(sender)),
            task: Mutex::new(Some(task)),
            dropped,
        })
    }

    /// Stops taking records and waits until every queued one is written.
    pub async fn flush_and_stop(&self) {
        let sender = match self.sender.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        drop(sender);
        let task = match self.task.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(task) = task
            && let Err(error) = task.await
        {
            tracing::error!(%error, "the audit writer stopped abnormally");
        }
    }
}

impl AuditSink for AuditWriter {
    fn record(&self, record: AuditRecord) {
        let sender = match self.sender.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let Some(sender) = sender else {
            tracing::warn!(tool = %record.tool, "audit record after shutdown began; not kept");
            return;
        };
        if sender.try_send(record).is_err() {
            let dropped = self.dropped.inc() + 1;
            if dropped.is_power_of_two() {
                tracing::error!(
                    dropped,
                    "audit queue is full: the store is not keeping up; records are being dropped"
                );
            }
        }
    }
}

async fn write_loop(store: Store, mut receiver: mpsc::Receiver<AuditRecord>) {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        // Each transaction costs the store a WAL commit whatever it carries, so the
        // writer lingers briefly for more records: under load one commit carries
        // hundreds; a quiet system writes a record LINGER after its call.
        let linger = tokio::time::sleep(LINGER);
        tokio::pin!(linger);
        let mut open = true;
        while open && batch.len() < BATCH {
            let room = BATCH - batch.len();
            tokio::select! {
                received = receiver.recv_many(&mut batch, room) => open = received > 0,
                () = &mut linger => break,
            }
        }
        write_batch(&store, &batch).await;
        batch.clear();
        if !open {
            break;
        }
    }
}

async fn write_batch(store: &Store, batch: &[AuditRecord]) {
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=WRITE_ATTEMPTS {
        match store.insert_audit(batch).await {
            Ok(()) => return,
            Err(error) if attempt < WRITE_ATTEMPTS => {
                tracing::warn!(%error, attempt, records = batch.len(), "writing audit records failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(error) => {
                tracing::error!(%error, records = batch.len(), "writing audit records failed; giving up on this batch");
            }
        }
    }
}
