//! The TCP transport: length-prefixed frames ([`crate::framing`]) over std sockets, no runtime.
//!
//! [`TcpCcf::bind`] listens and accepts connections on a background thread; every connection
//! gets a reader thread (small stack) that reads whole frames and hands them to the CCF through
//! one bounded channel. A full channel blocks the reader, which stops reading its socket, so TCP
//! flow control slows the sending instance down instead of anything being dropped or memory
//! growing: the CCF holds at most `capacity` frames plus one frame in each reader.
//!
//! Each frame's length prefix is checked against [`MAX_FRAME_BYTES`] before its buffer is
//! allocated. A peer that announces an oversized frame, or closes its connection in the middle
//! of a frame, is disconnected and counted in [`TcpCounts`]; nothing it sent in that frame
//! reaches the CCF, and no input makes a reader panic.
//!
//! The CCF writes to an instance with a write timeout, so a stalled instance cannot block the CCF
//! forever; a write that times out may leave a partial frame on the stream, so that connection
//! is shut down and the send reports [`TransportError::PeerGone`].

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::{Ccf, ConnectionId, Incoming, Transport, TransportError, check_frame_size};
use crate::error::ProtocolError;
use crate::framing::{LENGTH_PREFIX_BYTES, read_frame_length};
use crate::limits::MAX_FRAME_BYTES;

/// Stack of each connection's reader thread: it holds a few locals; the frame is on the heap.
const READER_STACK_BYTES: usize = 128 * 1024;

/// How long the CCF waits for one frame to be written to an instance before giving it up.
pub const CCF_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why reading one frame from a stream failed.
#[derive(Debug)]
pub enum FrameReadError {
    /// The prefix announced a frame above [`MAX_FRAME_BYTES`]; nothing was allocated for it.
    Oversized {
        /// The announced length.
        declared: u64,
    },
    /// The stream ended inside a frame (inside the prefix or the body).
    Truncated,
    /// The socket failed (reset, or a timeout set on it).
    Io(io::Error),
}

/// Reads one length-prefixed frame from a blocking stream: `Ok(None)` if the stream ended
/// cleanly between frames.
///
/// The buffer is sized from the prefix only after the prefix passed the limit check.
pub fn read_frame<R: Read>(stream: &mut R) -> Result<Option<Vec<u8>>, FrameReadError> {
    let mut prefix = [0u8; LENGTH_PREFIX_BYTES];
    let mut filled = 0;
    while filled < LENGTH_PREFIX_BYTES {
        match stream.read(&mut prefix[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(FrameReadError::Truncated),
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameReadError::Io(e)),
        }
    }
    let length = match read_frame_length(&prefix) {
        Ok(length) => length,
        Err(ProtocolError::Oversized { actual, .. }) => return Err(FrameReadError::Oversized { declared: actual }),
        // A 4-byte prefix is never truncated; any other error is still a bad frame.
        Err(_) => return Err(FrameReadError::Truncated),
    };
    let mut frame = vec![0u8; length];
    match stream.read_exact(&mut frame) {
        Ok(()) => Ok(Some(frame)),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Err(FrameReadError::Truncated),
        Err(e) => Err(FrameReadError::Io(e)),
    }
}

/// Writes `frame` with its length prefix as one buffer, so a small prefix never waits for
/// Nagle's algorithm on its own.
fn write_frame(mut stream: &TcpStream, frame: &[u8]) -> io::Result<()> {
    let mut framed = Vec::with_capacity(LENGTH_PREFIX_BYTES + frame.len());
    framed.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    framed.extend_from_slice(frame);
    stream.write_all(&framed)
}

/// What the CCF's listener has seen, for a load run or an operator to check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpCounts {
    /// Connections accepted.
    pub connections: u64,
    /// Frames read whole and handed to the CCF.
    pub frames: u64,
    /// Connections closed by the instance between frames.
    pub clean_closes: u64,
    /// Connections cut because their prefix announced a frame above [`MAX_FRAME_BYTES`].
    pub oversized_disconnects: u64,
    /// Connections cut because they ended inside a frame.
    pub truncated_disconnects: u64,
    /// Connections lost to a socket error.
    pub io_errors: u64,
}

#[derive(Debug, Default)]
struct AtomicCounts {
    connections: AtomicU64,
    frames: AtomicU64,
    clean_closes: AtomicU64,
    oversized_disconnects: AtomicU64,
    truncated_disconnects: AtomicU64,
    io_errors: AtomicU64,
}

impl AtomicCounts {
    fn snapshot(&self) -> TcpCounts {
        TcpCounts {
            connections: self.connections.load(Ordering::Relaxed),
            frames: self.frames.load(Ordering::Relaxed),
            clean_closes: self.clean_closes.load(Ordering::Relaxed),
            oversized_disconnects: self.oversized_disconnects.load(Ordering::Relaxed),
            truncated_disconnects: self.truncated_disconnects.load(Ordering::Relaxed),
            io_errors: self.io_errors.load(Ordering::Relaxed),
        }
    }
}

type Connections = Arc<Mutex<HashMap<ConnectionId, Arc<TcpStream>>>>;

fn lock(
    connections: &Mutex<HashMap<ConnectionId, Arc<TcpStream>>>,
) -> std::sync::MutexGuard<'_, HashMap<ConnectionId, Arc<TcpStream>>> {
    // The map holds no invariant a panicking thread could break halfway.
    connections.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The CCF's end: a listening socket and a reader per accepted connection.
///
/// Dropping it stops the listener and shuts down every connection.
#[derive(Debug)]
pub struct TcpCcf {
    incoming: Receiver<(ConnectionId, Vec<u8>)>,
    connections: Connections,
    counts: Arc<AtomicCounts>,
    stopping: Arc<AtomicBool>,
    local_addr: SocketAddr,
}

impl TcpCcf {
    /// Listens on `addr` (port 0 picks a free port; see [`TcpCcf::local_addr`]); at most
    /// `capacity` whole frames wait for the CCF at once.
    pub fn bind(addr: impl ToSocketAddrs, capacity: usize) -> io::Result<Self> {
        let listener = super::listen::listen(addr)?;
        let local_addr = listener.local_addr()?;
        let (to_ccf, incoming) = sync_channel(capacity);
        let connections: Connections = Arc::new(Mutex::new(HashMap::new()));
        let counts = Arc::new(AtomicCounts::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let accept = Acceptor {
            listener,
            to_ccf,
            connections: connections.clone(),
            counts: counts.clone(),
            stopping: stopping.clone(),
        };
        thread::Builder::new().name("dfma-tcp-accept".into()).spawn(move || accept.run())?;
        Ok(Self { incoming, connections, counts, stopping, local_addr })
    }

    /// The address instances connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Counts of connections, frames and disconnects so far.
    pub fn counts(&self) -> TcpCounts {
        self.counts.snapshot()
    }

    /// Connections open now.
    pub fn connections(&self) -> Vec<ConnectionId> {
        let mut ids: Vec<ConnectionId> = lock(&self.connections).keys().copied().collect();
        ids.sort();
        ids
    }
}

impl Drop for TcpCcf {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept thread, which sees the flag and ends.
        let _ = TcpStream::connect_timeout(&self.local_addr, Duration::from_secs(1));
        for stream in lock(&self.connections).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Transport for TcpCcf {
    type Peer = ConnectionId;

    fn send(&mut self, to: ConnectionId, frame: Vec<u8>) -> Result<(), TransportError> {
        check_frame_size(&frame)?;
        let stream = lock(&self.connections).get(&to).cloned();
        let stream = stream.ok_or_else(|| TransportError::PeerGone(format!("{to:?}")))?;
        if write_frame(&stream, &frame).is_err() {
            let _ = stream.shutdown(Shutdown::Both);
            lock(&self.connections).remove(&to);
            return Err(TransportError::PeerGone(format!("{to:?}")));
        }
        Ok(())
    }

    fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Incoming<ConnectionId>>, TransportError> {
        match self.incoming.recv_timeout(timeout) {
            Ok((from, frame)) => Ok(Some(Incoming { from, frame })),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(TransportError::Closed),
        }
    }
}

struct Acceptor {
    listener: TcpListener,
    to_ccf: SyncSender<(ConnectionId, Vec<u8>)>,
    connections: Connections,
    counts: Arc<AtomicCounts>,
    stopping: Arc<AtomicBool>,
}

impl Acceptor {
    fn run(self) {
        let mut next_id = 0u64;
        for stream in self.listener.incoming() {
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            // A failed accept (a connection reset before it was accepted, or out of file
            // descriptors) concerns that connection only; keep listening.
            let Ok(stream) = stream else { continue };
            let _ = stream.set_nodelay(true);
            let _ = stream.set_write_timeout(Some(CCF_WRITE_TIMEOUT));
            let id = ConnectionId(next_id);
            next_id += 1;
            let stream = Arc::new(stream);
            lock(&self.connections).insert(id, stream.clone());
            self.counts.connections.fetch_add(1, Ordering::Relaxed);
            let reader = ConnectionReader {
                id,
                stream,
                to_ccf: self.to_ccf.clone(),
                connections: self.connections.clone(),
                counts: self.counts.clone(),
            };
            let spawned = thread::Builder::new()
                .name("dfma-tcp-read".into())
                .stack_size(READER_STACK_BYTES)
                .spawn(move || reader.run());
            if spawned.is_err() {
                // No thread to read it: drop the connection rather than leave it unread.
                if let Some(stream) = lock(&self.connections).remove(&id) {
                    let _ = stream.shutdown(Shutdown::Both);
                }
                self.counts.io_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

struct ConnectionReader {
    id: ConnectionId,
    stream: Arc<TcpStream>,
    to_ccf: SyncSender<(ConnectionId, Vec<u8>)>,
    connections: Connections,
    counts: Arc<AtomicCounts>,
}

impl ConnectionReader {
    fn run(self) {
        let mut stream: &TcpStream = &self.stream;
        loop {
            let counter = match read_frame(&mut stream) {
                Ok(Some(frame)) => {
                    if self.to_ccf.send((self.id, frame)).is_err() {
                        break; // The CCF's end is gone.
                    }
                    self.counts.frames.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Ok(None) => &self.counts.clean_closes,
                Err(FrameReadError::Oversized { .. }) => &self.counts.oversized_disconnects,
                Err(FrameReadError::Truncated) => &self.counts.truncated_disconnects,
                Err(FrameReadError::Io(_)) => &self.counts.io_errors,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            break;
        }
        let _ = self.stream.shutdown(Shutdown::Both);
        lock(&self.connections).remove(&self.id);
    }
}

/// An instance's end: one connection to the CCF.
#[derive(Debug)]
pub struct TcpInstance {
    stream: TcpStream,
    /// Bytes of a frame from the CCF read so far (prefix included), kept across timeouts so
    /// that a timeout in the middle of a frame does not lose the stream's framing.
    pending: Vec<u8>,
}

impl TcpInstance {
    /// Connects to the CCF at `addr`.
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Self { stream, pending: Vec::new() })
    }

    /// Bytes still needed to complete the pending frame, or an error for an oversized prefix.
    fn still_needed(&self) -> Result<usize, TransportError> {
        if self.pending.len() < LENGTH_PREFIX_BYTES {
            return Ok(LENGTH_PREFIX_BYTES - self.pending.len());
        }
        let length = read_frame_length(&self.pending).map_err(|_| {
            let declared = u32::from_le_bytes([self.pending[0], self.pending[1], self.pending[2], self.pending[3]]);
            TransportError::Oversized { bytes: declared as usize, limit: MAX_FRAME_BYTES }
        })?;
        Ok(LENGTH_PREFIX_BYTES + length - self.pending.len())
    }
}

impl Transport for TcpInstance {
    type Peer = Ccf;

    fn send(&mut self, _to: Ccf, frame: Vec<u8>) -> Result<(), TransportError> {
        check_frame_size(&frame)?;
        write_frame(&self.stream, &frame).map_err(|_| TransportError::Closed)
    }

    fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Incoming<Ccf>>, TransportError> {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let needed = match self.still_needed() {
                Ok(needed) => needed,
                Err(error) => {
                    // The stream's framing cannot be trusted past a bad prefix.
                    let _ = self.stream.shutdown(Shutdown::Both);
                    return Err(error);
                }
            };
            if needed == 0 && self.pending.len() >= LENGTH_PREFIX_BYTES {
                let frame = self.pending.split_off(LENGTH_PREFIX_BYTES);
                self.pending.clear();
                return Ok(Some(Incoming { from: Ccf, frame }));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            // A zero read timeout is refused by the OS API; `left` is non-zero here.
            self.stream.set_read_timeout(Some(left)).map_err(|_| TransportError::Closed)?;
            let want = needed.min(chunk.len());
            match self.stream.read(&mut chunk[..want]) {
                Ok(0) => return Err(TransportError::Closed),
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return Ok(None),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(TransportError::Closed),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    fn wait_for(ccf: &TcpCcf, what: impl Fn(&TcpCounts) -> bool) -> TcpCounts {
        let deadline = Instant::now() + WAIT;
        loop {
            let counts = ccf.counts();
            if what(&counts) || Instant::now() > deadline {
                return counts;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn frames_go_both_ways_over_tcp_and_name_their_connection() {
        let mut ccf = TcpCcf::bind("127.0.0.1:0", 4).unwrap();
        let mut instance = TcpInstance::connect(ccf.local_addr()).unwrap();
        instance.send(Ccf, vec![1, 2, 3]).unwrap();
        instance.send(Ccf, vec![]).unwrap();
        let first = ccf.recv_timeout(WAIT).unwrap().expect("a frame within the wait");
        assert_eq!(first.frame, vec![1, 2, 3]);
        assert_eq!(ccf.recv_timeout(WAIT).unwrap(), Some(Incoming { from: first.from, frame: vec![] }));
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        ccf.send(first.from, big.clone()).unwrap();
        assert_eq!(instance.recv_timeout(WAIT).unwrap(), Some(Incoming { from: Ccf, frame: big }));
        assert_eq!(instance.recv_timeout(Duration::from_millis(10)).unwrap(), None);
        assert_eq!(ccf.counts().frames, 2);
    }

    #[test]
    fn an_oversized_length_prefix_disconnects_the_peer_and_is_counted() {
        let mut ccf = TcpCcf::bind("127.0.0.1:0", 4).unwrap();
        let mut raw = TcpStream::connect(ccf.local_addr()).unwrap();
        raw.write_all(&u32::MAX.to_le_bytes()).unwrap();
        let counts = wait_for(&ccf, |c| c.oversized_disconnects == 1);
        assert_eq!(counts.oversized_disconnects, 1, "{counts:?}");
        assert_eq!(counts.frames, 0);
        // The CCF closed the connection: the peer reads end of stream.
        raw.set_read_timeout(Some(WAIT)).unwrap();
        assert_eq!(raw.read(&mut [0u8; 1]).unwrap(), 0);
        assert_eq!(ccf.recv_timeout(Duration::from_millis(10)).unwrap(), None);
        assert!(ccf.connections().is_empty());
    }

    #[test]
    fn a_frame_cut_short_disconnects_the_peer_and_delivers_nothing() {
        let mut ccf = TcpCcf::bind("127.0.0.1:0", 4).unwrap();
        let mut raw = TcpStream::connect(ccf.local_addr()).unwrap();
        raw.write_all(&100u32.to_le_bytes()).unwrap();
        raw.write_all(&[7; 40]).unwrap();
        raw.shutdown(Shutdown::Write).unwrap();
        let counts = wait_for(&ccf, |c| c.truncated_disconnects == 1);
        assert_eq!(counts.truncated_disconnects, 1, "{counts:?}");
        assert_eq!(ccf.recv_timeout(Duration::from_millis(10)).unwrap(), None);
        // A prefix cut short is truncated too, and an honest peer is unaffected.
        let mut short = TcpStream::connect(ccf.local_addr()).unwrap();
        short.write_all(&[1, 0]).unwrap();
        short.shutdown(Shutdown::Write).unwrap();
        let mut honest = TcpInstance::connect(ccf.local_addr()).unwrap();
        honest.send(Ccf, vec![5]).unwrap();
        assert_eq!(ccf.recv_timeout(WAIT).unwrap().map(|i| i.frame), Some(vec![5]));
        let counts = wait_for(&ccf, |c| c.truncated_disconnects == 2);
        assert_eq!(counts.truncated_disconnects, 2, "{counts:?}");
    }

    #[test]
    fn read_frame_checks_the_prefix_before_allocating_and_tells_clean_ends_from_cut_ones() {
        assert!(matches!(read_frame(&mut &[][..]), Ok(None)));
        let oversized = ((MAX_FRAME_BYTES + 1) as u32).to_le_bytes();
        assert!(matches!(
            read_frame(&mut &oversized[..]),
            Err(FrameReadError::Oversized { declared }) if declared == MAX_FRAME_BYTES as u64 + 1
        ));
        assert!(matches!(read_frame(&mut &[3, 0, 0, 0, 1, 2][..]), Err(FrameReadError::Truncated)));
        assert!(matches!(read_frame(&mut &[3, 0, 0][..]), Err(FrameReadError::Truncated)));
        let mut two = &[1, 0, 0, 0, 9, 0, 0, 0, 0][..];
        assert_eq!(read_frame(&mut two).unwrap(), Some(vec![9]));
        assert_eq!(read_frame(&mut two).unwrap(), Some(vec![]));
        assert!(read_frame(&mut two).unwrap().is_none());
    }

    #[test]
    fn an_instance_refuses_an_oversized_frame_from_the_ccf_and_survives_a_mid_frame_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut instance = TcpInstance::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        // Half a frame, then a timeout, then the rest: the frame arrives whole.
        server.write_all(&[3, 0, 0, 0, 1]).unwrap();
        assert_eq!(instance.recv_timeout(Duration::from_millis(50)).unwrap(), None);
        server.write_all(&[2, 3]).unwrap();
        assert_eq!(instance.recv_timeout(WAIT).unwrap().map(|i| i.frame), Some(vec![1, 2, 3]));
        server.write_all(&u32::MAX.to_le_bytes()).unwrap();
        assert!(matches!(instance.recv_timeout(WAIT), Err(TransportError::Oversized { .. })));
    }

    #[test]
    fn an_oversized_frame_is_refused_before_sending_over_tcp() {
        let mut ccf = TcpCcf::bind("127.0.0.1:0", 1).unwrap();
        let mut instance = TcpInstance::connect(ccf.local_addr()).unwrap();
        let error = instance.send(Ccf, vec![0; MAX_FRAME_BYTES + 1]).unwrap_err();
        assert!(matches!(error, TransportError::Oversized { .. }));
        assert!(matches!(ccf.send(ConnectionId(99), vec![1]), Err(TransportError::PeerGone(_))));
        assert_eq!(ccf.recv_timeout(Duration::from_millis(10)).unwrap(), None);
    }
}
