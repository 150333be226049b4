//! One client's event stream.
//!
//! A subscription first replays from the log every event after the client's cursor (its
//! `Last-Event-ID`), then follows its route on the bus (its owner's events, or its job's).
//! It takes its route *before* its first read of the log, so an event is either in what
//! it read or still ahead on the route; events at or below the cursor are the ones it
//! already sent and are skipped. When it falls so far behind that the route dropped
//! events for it (`Lagged`), or the route says events were missed, it goes back to the
//! log from its cursor. Nothing is missed and nothing is sent twice.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ::metrics::{Counter, counter};
use app::event::{EventId, EventKind, Heartbeat};
use app::job::JobId;
use bytes::{Bytes, BytesMut};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::{Delivery, Published, Pulses, Route, sse};
use crate::metrics;
use crate::owner::Owner;
use crate::store::Store;

/// How many events one read of the log returns.
const PAGE: u32 = 500;
/// How many events already waiting on the bus are sent in one write.
const BATCH: usize = 256;

/// A stream's heartbeat: how often it goes out, and what it reports.
#[derive(Clone, Debug)]
pub struct Heartbeats {
    pub every: Duration,
    /// After how long without a report a running job counts as silent (the page says so).
    pub silent_after: Duration,
    pub pulses: Pulses,
}

/// Which events a subscription carries.
#[derive(Clone, Debug)]
pub struct Filter {
    pub owner: Owner,
    /// One job's events only (and the stream ends with that job's ending).
    pub job: Option<JobId>,
}

impl Filter {
    fn matches(&self, event: &Published) -> bool {
        event.owner == self.owner && self.job.is_none_or(|job| job == event.job_id)
    }
}

enum Phase {
    /// Reading the log from the cursor.
    CatchingUp,
    /// Following the bus.
    Live,
    /// The server is closing: send what the log has (everything written before the
    /// close), then end.
    Closing,
    /// Done (a one-job stream that sent its job's ending, or a closed one): end after
    /// the last write.
    Finished,
}

pub struct Subscription {
    store: Arc<dyn Store>,
    route: Route,
    filter: Filter,
    /// The id of the last event sent.
    cursor: EventId,
    phase: Phase,
    /// The next chunk to write (the reconnection delay, first of all).
    pending: Option<Bytes>,
    /// How many events `pending` holds.
    pending_events: u64,
    /// Events and bytes handed to the connection (`/metrics`).
    delivered: Counter,
    streamed: Counter,
    heartbeats: Heartbeats,
    /// Fires every `heartbeats.every`, busy or idle. Made once and moved on
    /// only when it fires: a timer per event and per subscriber would cost more than
    /// the event.
    keep_alive_timer: Pin<Box<Sleep>>,
    /// Where its queued jobs stood when it opened: sent once it has caught up.
    notes: Option<Bytes>,
    /// Resolves when the server closes; made once, for the same reason.
    closing: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Subscription {
    /// `route` must have been taken before the store was asked anything about the
    /// events this subscription will carry (see the module docs).
    pub fn new(
        store: Arc<dyn Store>,
        route: Route,
        filter: Filter,
        cursor: EventId,
        heartbeats: Heartbeats,
        notes: Option<Bytes>,
        shutdown: CancellationToken,
    ) -> Self {
        let mut subscription = Self {
            store,
            route,
            filter,
            cursor,
            phase: Phase::CatchingUp,
            pending: None,
            pending_events: 0,
            delivered: counter!(metrics::EVENTS_DELIVERED),
            streamed: counter!(metrics::BYTES_STREAMED),
            keep_alive_timer: Box::pin(tokio::time::sleep(heartbeats.every)),
            notes,
            heartbeats,
            closing: Box::pin(shutdown.cancelled_owned()),
        };
        // First of all, at once: the reconnection delay, and a heartbeat that tells the
        // client the rhythm to expect (a client that hears nothing more knows something
        // between it and the server holds the stream back).
        let mut first = BytesMut::new();
        sse::encode_retry(&mut first);
        first.extend_from_slice(&subscription.heartbeat());
        subscription.pending = Some(first.freeze());
        subscription
    }

    /// The stream of chunks to write to the client; it ends when the client's job ended
    /// (one-job streams), when the server shuts down (after sending every event written
    /// before that), or on a store error.
    pub fn into_stream(
        self,
    ) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
        futures::stream::unfold(self, |mut subscription| async move {
            let chunk = subscription.next_chunk().await?;
            Some((Ok(chunk), subscription))
        })
    }

    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if let Some(chunk) = self.pending.take() {
                self.delivered
                    .increment(std::mem::take(&mut self.pending_events));
                self.streamed.increment(chunk.len() as u64);
                return Some(chunk);
            }
            match self.phase {
                Phase::Finished => return None,
                Phase::CatchingUp | Phase::Closing => {
                    if let Err(err) = self.catch_up().await {
                        tracing::warn!(error = %err, "event stream closed: could not read the event log");
                        return None;
                    }
                }
                Phase::Live => {
                    tokio::select! {
                        biased;
                        // Events published just before the close may still wait on the
                        // bus: the log has them all.
                        () = &mut self.closing => self.phase = Phase::Closing,
                        received = self.route.recv() => match received {
                            Ok(Delivery::Event(event)) => self.follow(event),
                            Ok(Delivery::Missed) => self.phase = Phase::CatchingUp,
                            Ok(Delivery::Note(note)) => {
                                self.streamed.increment(note.len() as u64);
                                return Some(note);
                            }
                            Err(RecvError::Lagged(missed)) => {
                                tracing::debug!(missed, "subscriber fell behind; catching up from the log");
                                self.phase = Phase::CatchingUp;
                            }
                            Err(RecvError::Closed) => return None,
                        },
                        () = &mut self.keep_alive_timer => {
                            self.keep_alive_timer.as_mut().reset(Instant::now() + self.heartbeats.every);
                            let beat = self.heartbeat();
                            self.streamed.increment(beat.len() as u64);
                            return Some(beat);
                        }
                    }
                }
            }
        }
    }

    /// The keep-alive comment and the typed heartbeat, in one write.
    fn heartbeat(&self) -> Bytes {
        let beat = Heartbeat {
            server_time: chrono::Utc::now(),
            interval_ms: millis(self.heartbeats.every),
            silent_after_ms: millis(self.heartbeats.silent_after),
            running: self
                .heartbeats
                .pulses
                .of(&self.filter.owner, self.filter.job),
        };
        let mut chunk = BytesMut::from(sse::KEEP_ALIVE);
        sse::encode_heartbeat(&mut chunk, &beat);
        chunk.freeze()
    }

    /// Reads one page of the log after the cursor; goes live once the log is exhausted.
    async fn catch_up(&mut self) -> Result<(), crate::store::StoreError> {
        let events = self
            .store
            .events_after(&self.filter.owner, self.cursor, self.filter.job, PAGE)
            .await?;
        if events.len() < PAGE as usize {
            self.phase = match self.phase {
                Phase::Closing => Phase::Finished,
                _ => Phase::Live,
            };
        }
        let mut chunk = BytesMut::new();
        for event in &events {
            sse::encode_event(&mut chunk, event.id, event.kind, &event.data);
            self.pending_events += 1;
            self.cursor = event.id;
            if self.ends_stream(event.kind) {
                self.phase = Phase::Finished;
                break;
            }
        }
        // Caught up: where its queued jobs stand, as last reckoned (after the events that
        // made them, so that a client knows the jobs the note names; later moves follow
        // on the route).
        if matches!(self.phase, Phase::Live)
            && let Some(notes) = self.notes.take()
        {
            chunk.extend_from_slice(&notes);
        }
        if !chunk.is_empty() {
            self.pending = Some(chunk.freeze());
        }
        Ok(())
    }

    /// Takes an event from the bus, and whatever else is already waiting there.
    fn follow(&mut self, first: Arc<Published>) {
        // The frames to send: one shares the bus's bytes; several are joined.
        let mut single: Option<Bytes> = None;
        let mut chunk = BytesMut::new();
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(event) = next.take() {
            if event.id > self.cursor && self.filter.matches(&event) {
                if single.is_none() && chunk.is_empty() {
                    single = Some(event.frame.clone());
                } else {
                    if let Some(first) = single.take() {
                        chunk.extend_from_slice(&first);
                    }
                    chunk.extend_from_slice(&event.frame);
                }
                self.pending_events += 1;
                self.cursor = event.id;
                if self.ends_stream(event.kind) {
                    self.phase = Phase::Finished;
                    break;
                }
            }
            taken += 1;
            if taken < BATCH {
                next = match self.route.try_recv() {
                    Ok(Delivery::Event(event)) => Some(event),
                    // A note waiting behind events goes out after them (and ends the batch).
                    Ok(Delivery::Note(note)) => {
                        if let Some(first) = single.take() {
                            chunk.extend_from_slice(&first);
                        }
                        chunk.extend_from_slice(&note);
                        None
                    }
                    Ok(Delivery::Missed) | Err(TryRecvError::Lagged(_)) => {
                        self.phase = Phase::CatchingUp;
                        None
                    }
                    Err(TryRecvError::Empty | TryRecvError::Closed) => None,
                };
            }
        }
        self.pending = single.or_else(|| (!chunk.is_empty()).then(|| chunk.freeze()));
    }

    fn ends_stream(&self, kind: EventKind) -> bool {
        self.filter.job.is_some() && kind.is_terminal()
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use app::job::JobSpec;
    use futures::StreamExt;

    use super::*;
    use crate::events::{Announce, Bus, Recorder};
    use crate::store::{Admission, SqliteStore};

    #[tokio::test]
    async fn events_written_just_before_a_close_are_still_sent() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
        let bus = Bus::new(16);
        let recorder = Recorder::new(store.clone(), Announce::Bus(bus.clone()));
        let closing = CancellationToken::new();
        let mut subscription = Subscription::new(
            store,
            bus.route(&Owner::local(), None),
            Filter {
                owner: Owner::local(),
                job: None,
            },
            EventId(0),
            Heartbeats {
                every: Duration::from_secs(15),
                silent_after: Duration::from_secs(120),
                pulses: bus.pulses().clone(),
            },
            None,
            closing.clone(),
        );
        // Following the bus, with the log read.
        subscription.pending = None;
        subscription.phase = Phase::Live;

        // An event is published, and the server closes before the stream is polled.
        let spec = JobSpec::new("export", serde_json::json!({ "rows": 1 }));
        let job = recorder
            .create_job(
                &Owner::local(),
                &spec,
                "Export 1 rows",
                None,
                Admission::UNLIMITED,
            )
            .await
            .unwrap();
        closing.cancel();

        let chunks: Vec<_> = subscription.into_stream().collect().await;
        let text: String = chunks
            .into_iter()
            .map(|chunk| String::from_utf8(chunk.unwrap().to_vec()).unwrap())
            .collect();
        assert!(text.contains("event: created"), "{text:?}");
        assert!(text.contains(&job.id.to_string()));
    }
}
