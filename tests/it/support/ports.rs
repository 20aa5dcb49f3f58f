//! Loopback ports for listeners the test does not bind itself (the
//! gateway's, nginx's, chromedriver's), without the race of "bind port 0,
//! read the port, close, hope nobody takes it before the server binds".
//!
//! Why not read the port back from the gateway: Pingora binds its listeners
//! itself and keeps their local address to its own tests
//! (`ListenerEndpoint::local_addr` is `#[cfg(test)]`), so helmgate cannot
//! report what port 0 became; handing pre-bound sockets over works only as a
//! Pingora upgrade (`--upgrade`), whose receiving side polls once and then
//! sleeps a second, logging an ERROR, on nearly every start.
//!
//! So a port is reserved instead: a socket with `SO_REUSEADDR` bound to
//! `127.0.0.1:0` and never listening, held as long as the [`Port`] lives.
//! While it is bound, Linux gives that port to no other `bind(port 0)` and to
//! no outgoing connection, yet a server that binds it by number with
//! `SO_REUSEADDR` (std's `TcpListener::bind`, Pingora, nginx all set it) can
//! bind and listen on it. A connection to it before the server listens is
//! refused, as to a closed port.

use std::net::SocketAddr;

use socket2::{Domain, Socket, Type};

/// A reserved loopback port; the reservation ends when it is dropped.
pub struct Port {
    _socket: Socket,
    addr: SocketAddr,
}

impl Port {
    pub fn reserve() -> Port {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
        socket.set_reuse_address(true).expect("SO_REUSEADDR");
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        socket.bind(&any.into()).expect("bind 127.0.0.1:0");
        let addr = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .expect("the reserved address");
        Port {
            _socket: socket,
            addr,
        }
    }

    /// Reserve a given loopback address again (a listener's, after the
    /// process that used it stopped).
    pub fn reserve_at(addr: SocketAddr) -> Port {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
        socket.set_reuse_address(true).expect("SO_REUSEADDR");
        socket.bind(&addr.into()).expect("bind the address again");
        Port {
            _socket: socket,
            addr,
        }
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}
