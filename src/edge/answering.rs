//! Listeners whose every request the gateway answers itself (the HTTPS
//! redirect, the admin listener): Pingora's hooks around one `answer`. They
//! share the front door and the proxy's error answers, so a malformed
//! request gets the gateway's own 400 there too, never Pingora's.

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::protocols::http::ServerSession;
use pingora::proxy::{ProxyHttp, Session};

use crate::edge::answer::Answer;
use crate::edge::listener::Listener;
use crate::edge::refusal;
use crate::state::SharedState;

/// What one such listener says to a request, decorated.
#[async_trait]
pub trait Answering: Send + Sync + 'static {
    /// Which listener this is, in refusal counters and logs.
    const LISTENER: Listener;

    /// The gateway's state, for the refusal counters and the policy.
    fn state(&self) -> &SharedState;

    async fn answer(&self, session: &mut Session) -> Answer;
}

/// A `ProxyHttp` that never goes upstream: `T` answers every request.
pub struct AnsweringProxy<T>(pub T);

#[async_trait]
impl<T: Answering> ProxyHttp for AnsweringProxy<T> {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn request_error_filter(&self, session: &mut ServerSession, e: &Error) -> Result<()> {
        refusal::request_error(self.0.state(), T::LISTENER, session, e).await;
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, _ctx: &mut ()) -> Result<bool> {
        let answer = self.0.answer(session).await;
        answer.write(session).await?;
        Ok(true)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Error::e_explain(InternalError, "this listener answers every request itself")
    }
}
