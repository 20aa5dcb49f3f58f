//! Test harness: the real helmgate binary, a recording upstream on loopback,
//! and a small HTTP/1.1 client over raw TCP (and TLS), so tests control every
//! byte that goes over the wire. One file per concern; the suites import
//! everything from here (`use crate::support::*`).
#![allow(dead_code)]

mod asserts;
mod client;
mod config;
mod gateway;
mod golden;
mod pages;
mod pebble;
mod ports;
mod tls;
mod upstream;

pub use asserts::*;
pub use client::*;
pub use config::*;
pub use gateway::*;
pub use golden::*;
pub use pages::*;
pub use pebble::*;
pub use ports::*;
pub use tls::*;
pub use upstream::*;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Wait until `cond` holds, up to `limit`.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    cond()
}

pub type Queue<T> = Arc<Mutex<VecDeque<T>>>;
