//! The in-process transport: std channels between threads of one process.
//!
//! [`in_process`] returns the CCF's end and a [`Connector`] that opens instance ends. Instances
//! send into one bounded queue that the CCF drains; a full queue *blocks* the instance, so a fast
//! sender is slowed down rather than losing frames. The CCF sends into one bounded queue per
//! instance and never blocks: a full queue is [`TransportError::Full`], for the CCF to retry or
//! drop. Only one direction may block, or an instance blocked on a full CCF queue and a CCF
//! blocked on that instance's full queue would wait for each other forever.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::{Ccf, ConnectionId, Incoming, Transport, TransportError, check_frame_size};

type ToInstance = SyncSender<Vec<u8>>;

#[derive(Debug)]
struct Registry {
    next_id: u64,
    to_instances: HashMap<ConnectionId, ToInstance>,
}

/// A linked CCF end and instance connector whose queues hold `capacity` frames each.
pub fn in_process(capacity: usize) -> (InProcessCcf, Connector) {
    let (to_ccf, incoming) = sync_channel(capacity);
    let registry = Arc::new(Mutex::new(Registry { next_id: 0, to_instances: HashMap::new() }));
    (InProcessCcf { incoming, registry: registry.clone() }, Connector { to_ccf, registry, capacity })
}

fn lock(registry: &Mutex<Registry>) -> std::sync::MutexGuard<'_, Registry> {
    // The registry holds no invariant a panicking thread could break halfway.
    registry.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens instance ends connected to one CCF end. Cloneable, so instance threads can connect
/// themselves; the CCF end reports [`TransportError::Closed`] once every connector and
/// instance end is dropped and the queue is drained.
#[derive(Debug, Clone)]
pub struct Connector {
    to_ccf: SyncSender<(ConnectionId, Vec<u8>)>,
    registry: Arc<Mutex<Registry>>,
    capacity: usize,
}

impl Connector {
    /// A new instance end with the next connection id.
    pub fn connect(&self) -> InProcessInstance {
        let (to_instance, from_ccf) = sync_channel(self.capacity);
        let mut registry = lock(&self.registry);
        let id = ConnectionId(registry.next_id);
        registry.next_id += 1;
        registry.to_instances.insert(id, to_instance);
        InProcessInstance { id, to_ccf: self.to_ccf.clone(), from_ccf }
    }
}

/// The CCF's end: receives from every instance, sends to one at a time.
#[derive(Debug)]
pub struct InProcessCcf {
    incoming: Receiver<(ConnectionId, Vec<u8>)>,
    registry: Arc<Mutex<Registry>>,
}

impl InProcessCcf {
    /// Connections open now (instances whose ends still exist, as far as a send has found out).
    pub fn connections(&self) -> Vec<ConnectionId> {
        let mut ids: Vec<ConnectionId> = lock(&self.registry).to_instances.keys().copied().collect();
        ids.sort();
        ids
    }
}

impl Transport for InProcessCcf {
    type Peer = ConnectionId;

    fn send(&mut self, to: ConnectionId, frame: Vec<u8>) -> Result<(), TransportError> {
        check_frame_size(&frame)?;
        let mut registry = lock(&self.registry);
        let sender = registry.to_instances.get(&to).ok_or_else(|| TransportError::PeerGone(format!("{to:?}")))?;
        match sender.try_send(frame) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(TransportError::Full(format!("{to:?}"))),
            Err(TrySendError::Disconnected(_)) => {
                registry.to_instances.remove(&to);
                Err(TransportError::PeerGone(format!("{to:?}")))
            }
        }
    }

    fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Incoming<ConnectionId>>, TransportError> {
        match self.incoming.recv_timeout(timeout) {
            Ok((from, frame)) => Ok(Some(Incoming { from, frame })),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(TransportError::Closed),
        }
    }
}

/// An instance's end: sends to the CCF, receives what the CCF sends it.
#[derive(Debug)]
pub struct InProcessInstance {
    id: ConnectionId,
    to_ccf: SyncSender<(ConnectionId, Vec<u8>)>,
    from_ccf: Receiver<Vec<u8>>,
}

impl InProcessInstance {
    /// The id the CCF's end knows this connection by.
    pub fn id(&self) -> ConnectionId {
        self.id
    }
}

impl Transport for InProcessInstance {
    type Peer = Ccf;

    fn send(&mut self, _to: Ccf, frame: Vec<u8>) -> Result<(), TransportError> {
        check_frame_size(&frame)?;
        self.to_ccf.send((self.id, frame)).map_err(|_| TransportError::Closed)
    }

    fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Incoming<Ccf>>, TransportError> {
        match self.from_ccf.recv_timeout(timeout) {
            Ok(frame) => Ok(Some(Incoming { from: Ccf, frame })),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(TransportError::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::MAX_FRAME_BYTES;

    const WAIT: Duration = Duration::from_secs(5);

    #[test]
    fn frames_go_both_ways_and_name_their_connection() {
        let (mut ccf, connector) = in_process(4);
        let mut first = connector.connect();
        let mut second = connector.connect();
        second.send(Ccf, vec![2]).unwrap();
        first.send(Ccf, vec![1]).unwrap();
        assert_eq!(ccf.recv_timeout(WAIT).unwrap(), Some(Incoming { from: second.id(), frame: vec![2] }));
        assert_eq!(ccf.recv_timeout(WAIT).unwrap(), Some(Incoming { from: first.id(), frame: vec![1] }));
        ccf.send(first.id(), vec![9]).unwrap();
        assert_eq!(first.recv_timeout(WAIT).unwrap(), Some(Incoming { from: Ccf, frame: vec![9] }));
        assert_eq!(second.recv_timeout(Duration::from_millis(1)).unwrap(), None);
    }

    #[test]
    fn a_full_instance_queue_is_reported_not_blocked_on() {
        let (mut ccf, connector) = in_process(1);
        let instance = connector.connect();
        ccf.send(instance.id(), vec![1]).unwrap();
        assert!(matches!(ccf.send(instance.id(), vec![2]), Err(TransportError::Full(_))));
    }

    #[test]
    fn a_gone_instance_and_a_closed_ccf_are_typed_errors() {
        let (mut ccf, connector) = in_process(1);
        let instance = connector.connect();
        let id = instance.id();
        drop(instance);
        assert!(matches!(ccf.send(id, vec![1]), Err(TransportError::PeerGone(_))));
        assert!(ccf.connections().is_empty());
        drop(connector);
        assert_eq!(ccf.recv_timeout(WAIT), Err(TransportError::Closed));
    }

    #[test]
    fn an_oversized_frame_is_refused_before_sending() {
        let (mut ccf, connector) = in_process(1);
        let mut instance = connector.connect();
        let error = instance.send(Ccf, vec![0; MAX_FRAME_BYTES + 1]).unwrap_err();
        assert!(matches!(error, TransportError::Oversized { .. }));
        assert_eq!(ccf.recv_timeout(Duration::from_millis(1)).unwrap(), None);
    }
}
