//! [`SingleFlight`]: concurrent callers asking for the same key share one
//! computation (Go's `golang.org/x/sync/singleflight`, as a shared future).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

/// Computations in flight, by key. The first caller for a key starts the
/// computation; callers arriving before it finishes await the same one and
/// get a clone of its output. The computation is a shared future: it runs
/// to completion even if the caller that started it is dropped, as long as
/// another caller (or a later one for the same key) polls it.
pub struct SingleFlight<K, T: Clone> {
    flights: Mutex<HashMap<K, Shared<BoxFuture<'static, T>>>>,
}

impl<K, T: Clone> Default for SingleFlight<K, T> {
    fn default() -> Self {
        Self {
            flights: Mutex::new(HashMap::new()),
        }
    }
}

impl<K, T> SingleFlight<K, T>
where
    K: Eq + Hash + Clone,
    T: Clone + Send + Sync + 'static,
{
    /// The output of the computation in flight for `key`, or of `start()`'s
    /// when there is none (then `start` is called, otherwise dropped).
    pub async fn run<F>(&self, key: &K, start: F) -> T
    where
        F: FnOnce() -> BoxFuture<'static, T>,
    {
        let flight = self.join(key, start);
        let output = flight.clone().await;
        self.finish(key, &flight);
        output
    }

    /// The computation in flight for `key`, or `start()`'s, now registered
    /// (`start` is called at once, or dropped). The caller awaits it (or
    /// hands it to a background task) and then calls
    /// [`finish`](Self::finish), so later callers start afresh.
    pub fn join<F>(&self, key: &K, start: F) -> Shared<BoxFuture<'static, T>>
    where
        F: FnOnce() -> BoxFuture<'static, T>,
    {
        let mut flights = self.lock();
        match flights.get(key) {
            Some(flight) => flight.clone(),
            None => {
                let flight = start().shared();
                flights.insert(key.clone(), flight.clone());
                flight
            }
        }
    }

    /// Unregisters `flight` for `key` once it is done (a no-op when `key`
    /// already has a newer flight).
    pub fn finish(&self, key: &K, flight: &Shared<BoxFuture<'static, T>>) {
        let mut flights = self.lock();
        if flights.get(key).is_some_and(|f| f.ptr_eq(flight)) {
            flights.remove(key);
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Shared<BoxFuture<'static, T>>>> {
        self.flights.lock().unwrap_or_else(|e| e.into_inner())
    }
}
