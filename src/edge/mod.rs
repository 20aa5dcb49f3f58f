//! The request path. Head bytes become one `RequestFacts` (canonical path
//! and host, client view, route, CORS verdict, request id) once, in the front
//! door or the first Pingora hook; then the gateway answers itself (`answer`,
//! `verdict`: preflight, refusal, errors) or the request goes upstream
//! (`proxy`) and its response is decorated. `front` reads every HTTP/1 head
//! and `fast` answers preflights and refused origins without a Pingora
//! session, from the same facts.
//!
//! May use: `policy`, `config` (types only), `observe`, `state`.

pub mod answer;
pub mod answering;
pub mod connection;
pub mod fast;
pub mod framing;
pub mod front;
pub mod head;
pub mod isolation;
pub mod listener;
pub mod nonce;
pub mod proxy;
pub mod redirect;
pub mod refusal;
pub mod request;
pub mod request_id;
pub mod set_cookie;
pub mod upstream_hint;
pub mod verdict;

/// Helpers for the request path's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use pingora::protocols::http::ServerSession;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    /// Pingora's HTTP/1 session on a real loopback socket whose client has
    /// sent `request`, and that client.
    pub async fn session_after(request: &[u8]) -> (ServerSession, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(request).await.unwrap();
        let stream: pingora::protocols::Stream =
            Box::new(pingora::protocols::l4::stream::Stream::from(server));
        (ServerSession::new_http1(stream), client)
    }
}
