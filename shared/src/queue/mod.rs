//! The queue's Redis layout, and the two queue operations the reservation
//! service runs itself on the same Redis: check-and-touch an active token,
//! and complete it after payment. Keeping them here means the reservation
//! service needs one Redis round trip per gated call and never calls the
//! queue service over HTTP.

mod gate;
mod keys;
mod time;

pub use gate::{Admission, LUA_PRELUDE, complete, queue_script_source, touch_active};
pub use keys::{InvalidKeyPrefix, KeySpace, QueueKeys};
pub use time::{Millis, millis_to_rfc3339};
