//! The CCF's end of the gRPC transport: a tonic server on a runtime of its own.

use std::collections::HashMap;
use std::future::Future;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio_stream::Stream;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status, Streaming};

use super::service::ccf_server::{Ccf as CcfService, CcfServer};
use super::tls::ServerTls;
use super::{CLOSE_GRACE, Frame, GrpcCounts, MAX_MESSAGE_BYTES};
use crate::limits::MAX_FRAME_BYTES;
use crate::transport::{ConnectionId, Incoming, Transport, TransportError, check_frame_size};

/// Worker threads of the CCF's runtime: the server's work per frame is a copy and a queue push.
const CCF_WORKER_THREADS: usize = 2;

/// One open `Connect` stream.
#[derive(Debug)]
struct Connection {
    /// The stream's outbound queue; dropping it ends the response stream once it is drained.
    to_instance: mpsc::Sender<Frame>,
    /// The task reading the stream, cut when the CCF shuts down.
    reader: AbortHandle,
}

#[derive(Debug, Default)]
struct AtomicCounts {
    connections: AtomicU64,
    frames: AtomicU64,
    clean_closes: AtomicU64,
    oversized_disconnects: AtomicU64,
    malformed_disconnects: AtomicU64,
    lost_streams: AtomicU64,
}

impl AtomicCounts {
    fn snapshot(&self) -> GrpcCounts {
        GrpcCounts {
            connections: self.connections.load(Ordering::Relaxed),
            frames: self.frames.load(Ordering::Relaxed),
            clean_closes: self.clean_closes.load(Ordering::Relaxed),
            oversized_disconnects: self.oversized_disconnects.load(Ordering::Relaxed),
            malformed_disconnects: self.malformed_disconnects.load(Ordering::Relaxed),
            lost_streams: self.lost_streams.load(Ordering::Relaxed),
        }
    }
}

/// What the server's tasks and the CCF's calls share.
#[derive(Debug, Default)]
struct Shared {
    /// The next connection's number and the open connections, under one lock so that ids follow
    /// the order streams were registered in.
    connections: Mutex<(u64, HashMap<ConnectionId, Connection>)>,
    counts: AtomicCounts,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, (u64, HashMap<ConnectionId, Connection>)> {
        // The map holds no invariant a panicking thread could break halfway.
        self.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The CCF's end: a gRPC server whose every `Connect` stream is one instance's connection.
///
/// Dropping it stops the server, ends every stream (waiting at most [`CLOSE_GRACE`] for them
/// to close cleanly) and shuts its runtime down.
#[derive(Debug)]
pub struct GrpcCcf {
    /// `None` only while dropping.
    runtime: Option<Runtime>,
    incoming: mpsc::Receiver<(ConnectionId, Vec<u8>)>,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    server_done: std::sync::mpsc::Receiver<()>,
    local_addr: SocketAddr,
}

impl GrpcCcf {
    /// Serves `dfma.v1.Ccf` on `addr` (port 0 picks a free port; see [`GrpcCcf::local_addr`]) in
    /// the background; at most `capacity` whole frames wait for the CCF at once, and each
    /// instance's outbound queue holds `capacity` frames.
    ///
    /// A `capacity` of 0 is refused as [`ErrorKind::InvalidInput`]: a queue of no frames could
    /// never pass one on.
    pub fn serve(addr: impl ToSocketAddrs, capacity: usize) -> io::Result<Self> {
        Self::serve_with(addr, capacity, None)
    }

    /// Serves `dfma.v1.Ccf` as [`GrpcCcf::serve`] does, but over TLS with the identity `tls`:
    /// instances connect with [`super::GrpcInstance::connect_tls`] to `https://{local_addr}`,
    /// trusting the CA that signed `tls`'s certificate. A connection whose handshake fails (an
    /// instance trusting another CA, a plain HTTP/2 client) is closed without ever becoming a
    /// connection of the CCF; the handshake must end within [`super::CONNECT_TIMEOUT`].
    ///
    /// A certificate chain or private key that is not PEM of its kind, or a key that is not the
    /// certificate's, is [`ErrorKind::InvalidInput`] with a message saying which; so is a
    /// `capacity` of 0. If the process has no default rustls crypto provider yet, this installs
    /// ring's.
    pub fn serve_tls(addr: impl ToSocketAddrs, capacity: usize, tls: &ServerTls) -> io::Result<Self> {
        Self::serve_with(addr, capacity, Some(tls))
    }

    fn serve_with(addr: impl ToSocketAddrs, capacity: usize, tls: Option<&ServerTls>) -> io::Result<Self> {
        if capacity == 0 {
            return Err(io::Error::new(ErrorKind::InvalidInput, "a gRPC CCF needs a queue of at least 1 frame"));
        }
        let server = match tls {
            Some(tls) => tls.server()?,
            None => Server::builder(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(CCF_WORKER_THREADS)
            .thread_name("dfma-grpc-ccf")
            .enable_all()
            .build()?;
        let listener = crate::transport::listen::listen(addr)?;
        let local_addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let accepted = TcpIncoming::from(listener).with_nodelay(Some(true));
        let (to_ccf, incoming) = mpsc::channel(capacity);
        let shared = Arc::new(Shared::default());
        let service = CcfServer::new(Service { shared: shared.clone(), to_ccf, capacity })
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let (stop, stopped) = oneshot::channel::<()>();
        let (done, server_done) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            // An error here is the listener failing; the CCF then sees `Closed` once the
            // streams already open have ended.
            let _ = server
                .serve_with_incoming_shutdown(service, accepted, async {
                    let _ = stopped.await;
                })
                .await;
            let _ = done.send(());
        });
        Ok(Self { runtime: Some(runtime), incoming, shared, stop: Some(stop), server_done, local_addr })
    }

    /// The address instances connect to (as `http://{local_addr}`, or `https://` when serving
    /// over TLS).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Counts of streams, frames and disconnects so far.
    pub fn counts(&self) -> GrpcCounts {
        self.shared.counts.snapshot()
    }

    /// Connections open now.
    pub fn connections(&self) -> Vec<ConnectionId> {
        let mut ids: Vec<ConnectionId> = self.shared.lock().1.keys().copied().collect();
        ids.sort();
        ids
    }
}

impl Drop for GrpcCcf {
    fn drop(&mut self) {
        // Stop accepting, end every response stream and stop reading every request stream, so
        // that the server's graceful shutdown has nothing left to wait for.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for (_, connection) in self.shared.lock().1.drain() {
            connection.reader.abort();
        }
        let Some(runtime) = self.runtime.take() else { return };
        if tokio::runtime::Handle::try_current().is_ok() {
            // Dropped inside some async context, where waiting is not allowed: cut everything.
            runtime.shutdown_background();
            return;
        }
        let _ = self.server_done.recv_timeout(CLOSE_GRACE);
        runtime.shutdown_timeout(CLOSE_GRACE);
    }
}

impl Transport for GrpcCcf {
    type Peer = ConnectionId;

    fn send(&mut self, to: ConnectionId, frame: Vec<u8>) -> Result<(), TransportError> {
        check_frame_size(&frame)?;
        let mut connections = self.shared.lock();
        let connection = connections.1.get(&to).ok_or_else(|| TransportError::PeerGone(format!("{to:?}")))?;
        match connection.to_instance.try_send(Frame { frame }) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(TransportError::Full(format!("{to:?}"))),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                connections.1.remove(&to);
                Err(TransportError::PeerGone(format!("{to:?}")))
            }
        }
    }

    /// Waits on the CCF's queue through the runtime's handle; call it from an ordinary thread.
    fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Incoming<ConnectionId>>, TransportError> {
        let runtime = self.runtime.as_ref().ok_or(TransportError::Closed)?;
        // The timer must be made inside the runtime, hence the `async` block.
        let incoming = &mut self.incoming;
        match runtime.handle().block_on(async { tokio::time::timeout(timeout, incoming.recv()).await }) {
            Ok(Some((from, frame))) => Ok(Some(Incoming { from, frame })),
            Ok(None) => Err(TransportError::Closed),
            Err(_elapsed) => Ok(None),
        }
    }
}

/// The service behind the server: registers each `Connect` stream and starts its reader.
struct Service {
    shared: Arc<Shared>,
    to_ccf: mpsc::Sender<(ConnectionId, Vec<u8>)>,
    capacity: usize,
}

impl Service {
    /// Numbers the stream, starts its reader and returns the stream of frames to send back.
    fn register(&self, requests: Streaming<Frame>) -> Outbound {
        let (to_instance, frames) = mpsc::channel(self.capacity);
        let (end, ended) = oneshot::channel();
        // Held while the reader starts, so that a reader ending at once finds its entry.
        let mut connections = self.shared.lock();
        let id = ConnectionId(connections.0);
        connections.0 += 1;
        let reader = Reader { id, requests, to_ccf: self.to_ccf.clone(), shared: self.shared.clone(), end };
        let reader = tokio::spawn(reader.run()).abort_handle();
        connections.1.insert(id, Connection { to_instance, reader });
        self.shared.counts.connections.fetch_add(1, Ordering::Relaxed);
        Outbound { frames, ended: Some(ended), finished: false }
    }
}

#[tonic::async_trait]
impl CcfService for Service {
    type ConnectStream = Outbound;

    async fn connect(&self, request: Request<Streaming<Frame>>) -> Result<Response<Outbound>, Status> {
        Ok(Response::new(self.register(request.into_inner())))
    }
}

/// How a stream's reader ended.
enum Ending {
    Clean,
    Oversized,
    Malformed,
    Lost,
    /// The CCF's end was dropped: nobody to hand frames to, nothing to count.
    CcfGone,
}

impl Ending {
    fn of(status: &Status) -> Self {
        match status.code() {
            Code::OutOfRange => Self::Oversized,
            // tonic reports a message it could not decode as INTERNAL without a source; an
            // HTTP/2 error on the stream is INTERNAL too, but carries the h2 error as source.
            Code::Internal if std::error::Error::source(status).is_none() => Self::Malformed,
            _ => Self::Lost,
        }
    }
}

/// Reads one `Connect` stream into the CCF's queue.
struct Reader {
    id: ConnectionId,
    requests: Streaming<Frame>,
    to_ccf: mpsc::Sender<(ConnectionId, Vec<u8>)>,
    shared: Arc<Shared>,
    /// Ends the response stream with an error status, for a stream cut for what it sent.
    end: oneshot::Sender<Status>,
}

impl Reader {
    async fn run(mut self) {
        let ending = loop {
            match self.requests.message().await {
                Ok(Some(Frame { frame })) if frame.len() > MAX_FRAME_BYTES => break Ending::Oversized,
                Ok(Some(Frame { frame })) => {
                    // A full queue waits here, so this stream is not read and HTTP/2 flow
                    // control holds the instance back.
                    if self.to_ccf.send((self.id, frame)).await.is_err() {
                        break Ending::CcfGone;
                    }
                    self.shared.counts.frames.fetch_add(1, Ordering::Relaxed);
                }
                Ok(None) => break Ending::Clean,
                Err(status) => break Ending::of(&status),
            }
        };
        // Dropping the outbound queue ends the response stream once what is queued is sent.
        self.shared.lock().1.remove(&self.id);
        let counts = &self.shared.counts;
        let (counter, status) = match ending {
            Ending::Clean => (&counts.clean_closes, None),
            Ending::Oversized => (
                &counts.oversized_disconnects,
                Some(Status::out_of_range(format!("a frame is above the limit of {MAX_FRAME_BYTES} bytes"))),
            ),
            Ending::Malformed => {
                (&counts.malformed_disconnects, Some(Status::invalid_argument("a message is not a dfma.v1.Frame")))
            }
            Ending::Lost => (&counts.lost_streams, None),
            Ending::CcfGone => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(status) = status {
            let _ = self.end.send(status);
        }
    }
}

/// The response stream of one `Connect` call: the frames the CCF queued for the instance, then
/// the end, or an error status at once if the instance's stream was cut for what it sent.
#[derive(Debug)]
pub(super) struct Outbound {
    frames: mpsc::Receiver<Frame>,
    ended: Option<oneshot::Receiver<Status>>,
    finished: bool,
}

impl Stream for Outbound {
    type Item = Result<Frame, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        if let Some(ended) = this.ended.as_mut() {
            match Pin::new(ended).poll(cx) {
                Poll::Ready(Ok(status)) => {
                    this.finished = true;
                    this.frames.close();
                    return Poll::Ready(Some(Err(status)));
                }
                // The reader ended without an error: the queue's end is the stream's end.
                Poll::Ready(Err(_)) => this.ended = None,
                Poll::Pending => {}
            }
        }
        this.frames.poll_recv(cx).map(|frame| frame.map(Ok))
    }
}
