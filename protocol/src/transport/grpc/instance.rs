//! An instance's end of the gRPC transport: one `Connect` stream on a one-thread runtime.

use std::io::{self, ErrorKind};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;
use tonic::transport::Endpoint;

use super::service::ccf_client::CcfClient;
use super::tls::{client_config, invalid};
use super::{CLOSE_GRACE, CLOSE_LINGER, CONNECT_TIMEOUT, Frame, MAX_MESSAGE_BYTES, error_chain};
use crate::limits::MAX_FRAME_BYTES;
use crate::transport::{Ccf, Incoming, Transport, TransportError, check_frame_size};

/// Frames an instance queues towards the CCF before `send` blocks, and frames from the CCF it
/// holds before its stream stops being read.
pub const INSTANCE_QUEUE_FRAMES: usize = 8;

/// An instance's end: one `Connect` stream to a [`super::GrpcCcf`].
///
/// Dropping it ends the stream cleanly: frames already sent still reach the CCF. Drop waits at
/// most [`CLOSE_GRACE`] for the CCF to close its side, then leaves the rest to a background
/// thread that gives up after [`CLOSE_LINGER`] (a CCF that stopped reading).
#[derive(Debug)]
pub struct GrpcInstance {
    /// `None` only while dropping.
    runtime: Option<Runtime>,
    /// `None` only while dropping: dropping it ends the request stream.
    to_ccf: Option<mpsc::Sender<Frame>>,
    from_ccf: mpsc::Receiver<Vec<u8>>,
}

impl GrpcInstance {
    /// Connects to the CCF at `url` (such as `http://127.0.0.1:50051`), in the clear, and opens this
    /// instance's stream, within [`CONNECT_TIMEOUT`].
    ///
    /// A malformed URL is [`ErrorKind::InvalidInput`]; a refused or failed connection keeps the
    /// kind of the socket error where there is one. Either message names `url` and the cause on
    /// one line.
    pub fn connect(url: &str) -> io::Result<Self> {
        Self::connect_with(url, None)
    }

    /// Connects as [`GrpcInstance::connect`] does, but over TLS, to a CCF served with
    /// [`super::GrpcCcf::serve_tls`] at `url` (`https://...`). The CCF's certificate must be
    /// signed by a CA in `ca_pem` (PEM `CERTIFICATE` blocks; no other root is trusted) and name
    /// `domain`, or the URL's host (a DNS name or an IP address) when `domain` is `None`.
    ///
    /// A URL that is not `https://`, a `ca_pem` that is not PEM certificates or a `domain` that
    /// is not a DNS name or an IP address is [`ErrorKind::InvalidInput`]; a certificate that
    /// fails verification fails the connection, with the TLS error in the message.
    pub fn connect_tls(url: &str, ca_pem: &[u8], domain: Option<&str>) -> io::Result<Self> {
        Self::connect_with(url, Some((ca_pem, domain)))
    }

    fn connect_with(url: &str, tls: Option<(&[u8], Option<&str>)>) -> io::Result<Self> {
        let mut endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| invalid(format!("bad gRPC URL {url:?}: {}", error_chain(&e))))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        if let Some((ca_pem, domain)) = tls {
            // tonic would connect to an `http://` URL in the clear even with TLS configured.
            if endpoint.uri().scheme_str() != Some("https") {
                return Err(invalid(format!("bad gRPC URL {url:?}: TLS needs an https:// URL")));
            }
            endpoint = endpoint
                .tls_config(client_config(ca_pem, domain)?)
                .map_err(|e| invalid(format!("TLS settings for {url}: {}", error_chain(&e))))?;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("dfma-grpc-instance")
            .enable_all()
            .build()?;
        let (to_ccf, requests) = mpsc::channel(INSTANCE_QUEUE_FRAMES);
        let opened = runtime.block_on(async {
            let channel = endpoint.connect().await.map_err(|e| connect_error(url, &e))?;
            let mut client = CcfClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES);
            let response =
                tokio::time::timeout(CONNECT_TIMEOUT, client.connect(ReceiverStream::new(requests))).await.map_err(
                    |_| io::Error::new(ErrorKind::TimedOut, format!("gRPC CCF at {url} did not open a stream")),
                )?;
            response.map_err(|status| connect_error(url, &status))
        })?;
        let (forward, from_ccf) = mpsc::channel(INSTANCE_QUEUE_FRAMES);
        runtime.spawn(forward_responses(opened.into_inner(), forward));
        Ok(Self { runtime: Some(runtime), to_ccf: Some(to_ccf), from_ccf })
    }
}

fn connect_error(url: &str, error: &(dyn std::error::Error + 'static)) -> io::Error {
    let mut kind = ErrorKind::Other;
    let mut source = Some(error);
    while let Some(cause) = source {
        if let Some(io_error) = cause.downcast_ref::<io::Error>() {
            kind = io_error.kind();
            break;
        }
        source = cause.source();
    }
    io::Error::new(kind, format!("cannot connect to the gRPC CCF at {url}: {}", error_chain(error)))
}

/// Moves the CCF's frames into the instance's queue until the stream ends; a full queue waits
/// here, so the stream stops being read and the CCF's queue for this instance fills up.
async fn forward_responses(mut responses: Streaming<Frame>, forward: mpsc::Sender<Vec<u8>>) {
    // An error status, a decoding error or an oversized frame ends the stream like its clean
    // end: the instance's next receive after the queue is drained says `Closed`.
    while let Ok(Some(Frame { frame })) = responses.message().await {
        if frame.len() > MAX_FRAME_BYTES || forward.send(frame).await.is_err() {
            return;
        }
    }
}

impl Drop for GrpcInstance {
    fn drop(&mut self) {
        // Ending the request stream lets the CCF read what is still queued, count a clean close
        // and end its side, which ends the response stream. Until then frames `send` accepted
        // may still be in this process, so the runtime lives on: up to CLOSE_GRACE on this
        // thread, then up to CLOSE_LINGER on a thread of its own, as a closed socket's data
        // lingers in the kernel.
        drop(self.to_ccf.take());
        let Some(runtime) = self.runtime.take() else { return };
        if tokio::runtime::Handle::try_current().is_ok() {
            // Dropped inside some async context, where waiting is not allowed: cut everything.
            runtime.shutdown_background();
            return;
        }
        let (_, closed) = mpsc::channel(1);
        let mut from_ccf = std::mem::replace(&mut self.from_ccf, closed);
        let mut closing = runtime.spawn(async move {
            let _ = tokio::time::timeout(CLOSE_LINGER, async { while from_ccf.recv().await.is_some() {} }).await;
        });
        let closed_in_grace = runtime.block_on(async { tokio::time::timeout(CLOSE_GRACE, &mut closing).await.is_ok() });
        if closed_in_grace {
            runtime.shutdown_timeout(CLOSE_GRACE);
            return;
        }
        let linger = move || {
            let _ = runtime.block_on(closing);
            runtime.shutdown_timeout(CLOSE_GRACE);
        };
        // Without a thread to linger on, the frames still queued are lost with the runtime.
        let _ = std::thread::Builder::new().name("dfma-grpc-close".into()).spawn(linger);
    }
}

impl Transport for GrpcInstance {
    type Peer = Ccf;

    /// Queues the frame for the stream, blocking while the queue is full (the CCF is not
    /// reading); call it from an ordinary thread.
    fn send(&mut self, _to: Ccf, frame: Vec<u8>) -> Result<(), TransportError> {
        check_frame_size(&frame)?;
        let to_ccf = self.to_ccf.as_ref().ok_or(TransportError::Closed)?;
        to_ccf.blocking_send(Frame { frame }).map_err(|_| TransportError::Closed)
    }

    /// Waits on the frames from the CCF through the runtime's handle; call it from an ordinary
    /// thread. `Closed` once the CCF ended the stream and every frame before the end was taken.
    fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Incoming<Ccf>>, TransportError> {
        let runtime = self.runtime.as_ref().ok_or(TransportError::Closed)?;
        // The timer must be made inside the runtime, hence the `async` block.
        let from_ccf = &mut self.from_ccf;
        match runtime.handle().block_on(async { tokio::time::timeout(timeout, from_ccf.recv()).await }) {
            Ok(Some(frame)) => Ok(Some(Incoming { from: Ccf, frame })),
            Ok(None) => Err(TransportError::Closed),
            Err(_elapsed) => Ok(None),
        }
    }
}
