//! The CCF's listening socket, shared by the TCP and gRPC transports.
//!
//! A CCF is connected to by many instances at once. With the accept queue the standard library
//! asks for (128 connections), a burst of a few thousand connects overflows it and the kernel
//! drops or resets the surplus, which an instance sees as a failed connection. The CCF asks for
//! [`ACCEPT_BACKLOG`] instead (the kernel caps it at `net.core.somaxconn`).

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

/// Connections the kernel may hold waiting for the CCF to accept them.
pub const ACCEPT_BACKLOG: i32 = 8192;

/// A listener on the first address of `addr` that binds, with [`ACCEPT_BACKLOG`].
pub fn listen(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match listen_on(a) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to listen on")))
}

fn listen_on(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As the standard library does: a restarted CCF can bind while old connections linger.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(ACCEPT_BACKLOG)?;
    Ok(socket.into())
}
