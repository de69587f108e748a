//! Every retry of the clouds and its limits, in one place: a failing server is treated alike by
//! every tool and every cloud. Retries are bounded so that a dead server is one clear line
//! within seconds, not a hang, while a dropped connection or a short throttle is waited out.

use std::time::Duration;

/// Waits between attempts: doubling from `first`, never more than `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait after `failures` failures in a row (from 1).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(16);
        (self.first * (1 << doublings)).min(self.max)
    }

    pub async fn wait(&self, failures: u32) {
        tokio::time::sleep(self.delay(failures)).await
    }
}

/// A read resumed from where it broke (read.rs) gives up after this many failures in a row
/// without a byte of progress (as-get's --attempts): with [`READ_BACKOFF`], some 20 s, time
/// for a server to restart.
pub const READ_ATTEMPTS: u32 = 10;

/// A dropped connection is usually back at once; a longer outage is still asked every 5 s.
pub const READ_BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(100),
    max: Duration::from_secs(5),
};

/// Requests sent again here (S3's parts, GCS's upload session and chunks): the same data sent
/// whole again, at most this many times. Under S3's, aws-sdk-s3's own (3 attempts) also run.
pub const REQUEST_ATTEMPTS: u32 = 5;

/// 0.4 + 0.8 + 1.6 + 3.2 s between the attempts: a throttle or a restart is waited out, a dead
/// server is one line after some 6 s.
pub const REQUEST_BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(400),
    max: Duration::from_secs(5),
};

/// object_store's own retries of a failed request (GCS and Azure: listing, reads, deletes,
/// Azure's blocks and block list): a few over seconds, not its default of ten over three
/// minutes, for the same reason (reads resume on their own, from where they broke).
pub fn object_store() -> object_store::RetryConfig {
    object_store::RetryConfig {
        max_retries: 4,
        retry_timeout: Duration::from_secs(30),
        ..Default::default()
    }
}

/// A server that takes a connection in no time when up: waiting longer only delays the retry.
/// (S3's is --s3-connect-timeout.)
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection that delivers nothing for this long is given up (and the read resumed): a
/// stalled server, not a large object, ends a request, so there is no limit on a whole request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoffs_double_up_to_their_limit() {
        let d = |n| REQUEST_BACKOFF.delay(n).as_millis();
        assert_eq!(
            (d(1), d(2), d(4), d(5), d(40)),
            (400, 800, 3200, 5000, 5000)
        );
        let total: Duration = (1..READ_ATTEMPTS).map(|n| READ_BACKOFF.delay(n)).sum();
        assert!(total > Duration::from_secs(20) && total < Duration::from_secs(30));
    }
}
