//! Catching the log events a stash emits (features `testkit` and `tracing`),
//! for tests that check them.
//!
//! ```ignore
//! let (out, events) = stash_core::testkit::logs::capture(|| stash.get::<_, String>("k"));
//! assert!(events.iter().any(|e| e.message() == "miss"));
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// One event: its level, target and fields as text (`message` among them).
#[derive(Debug, Clone)]
pub struct Event {
    /// Its level.
    pub level: tracing::Level,
    /// Its target (`hashstash` for every event of this workspace).
    pub target: String,
    /// Every field, shown as `Display` or `Debug` gives it.
    pub fields: BTreeMap<String, String>,
}

impl Event {
    /// The event's message.
    pub fn message(&self) -> &str {
        self.fields.get("message").map(String::as_str).unwrap_or("")
    }

    /// A field's value, or `""` when the event has no such field.
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map(String::as_str).unwrap_or("")
    }
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<Event>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Collect {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let seen = Event { level: *meta.level(), target: meta.target().to_string(), fields: fields.0 };
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(seen);
    }
}

/// Runs `f` with a subscriber that keeps every event this thread emits, at
/// every level; returns what `f` returned and the events, in order.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<Event>) {
    let collect = Collect::default();
    let subscriber = tracing_subscriber::registry().with(collect.clone());
    let out = tracing::subscriber::with_default(subscriber, f);
    let events = std::mem::take(&mut *collect.0.lock().unwrap_or_else(|e| e.into_inner()));
    (out, events)
}
