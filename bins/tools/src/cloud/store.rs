//! Where backups live: one bucket of S3, GCS or Azure behind one trait, so that as-put, as-get,
//! as-decode and as-restore do not need to know which cloud it is.

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

/// A bucket (Azure: a container). Keys are the objects' names in it.
pub trait Store: Send + Sync {
    /// Every object under the directory `prefix` (at any depth), with its size, sorted by key.
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, anyhow::Result<Vec<(String, u64)>>>;

    /// One read of `key` from byte `from` on; with `etag`, of that version only (If-Match), so
    /// that a read resumed after a break never splices a replaced object.
    fn read_at<'a>(
        &'a self,
        key: &'a str,
        from: u64,
        etag: Option<String>,
    ) -> BoxFuture<'a, Result<Opened, ReadError>>;

    /// How uploads are cut.
    fn parts(&self) -> Parts;

    /// Starts an upload of `key`: nothing appears there until it completes.
    fn begin<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<Box<dyn ObjectUpload>>>;

    /// Writes an object of at most one part whose data is known to be whole: by default an
    /// upload of that part.
    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let mut up = self.begin(key).await?;
            let abort = up.abort();
            // No empty part (Azure refuses an empty block): completing none makes an empty object.
            let sent = match data.is_empty() {
                true => Ok(()),
                false => up.part(data).await,
            };
            let done = match sent {
                Ok(()) => up.complete().await,
                Err(e) => Err(e),
            };
            if done.is_err() {
                abort.await;
            }
            done
        })
    }

    /// Deletes `key`; an object that is not there is no error.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// One object being written: parts in order, then complete (the object appears, whole) or
/// abort (nothing appears).
pub trait ObjectUpload: Send {
    /// Sends the next part: every part but the last is exactly [`Parts::size`] long.
    fn part(&mut self, data: Bytes) -> BoxFuture<'static, anyhow::Result<()>>;
    /// Makes the object of the parts sent, once they all succeeded.
    fn complete(self: Box<Self>) -> BoxFuture<'static, anyhow::Result<()>>;
    /// Forgets the parts: nothing appears. The future may be kept and run from elsewhere (on a
    /// signal), at any time.
    fn abort(&self) -> BoxFuture<'static, ()>;
}

/// How an upload is cut into parts, and how many are sent at once.
#[derive(Debug, Clone, Copy)]
pub struct Parts {
    /// The size of the first parts.
    pub first: usize,
    /// Parts double in size every this many (0: never), up to `max`.
    pub doubling: u64,
    pub max: usize,
    pub in_flight: usize,
}

impl Parts {
    /// Parts all of one size.
    pub fn fixed(size: usize, in_flight: usize) -> Parts {
        Parts {
            first: size,
            doubling: 0,
            max: size,
            in_flight,
        }
    }

    /// The size of part `n` (from 1).
    pub fn size(&self, n: u64) -> usize {
        match self.doubling {
            0 => self.first,
            d => (self.first << ((n.max(1) - 1) / d).min(16)).min(self.max),
        }
    }
}

/// One read from an offset on: the object's version and whole size, and the body's chunks.
pub struct Opened {
    pub etag: Option<String>,
    pub size: u64,
    pub body: BoxStream<'static, Result<Bytes, String>>,
}

pub enum ReadError {
    /// Worth trying again (a server error, a dropped connection).
    Transient(String),
    /// Not (no such object, no access, or the object was replaced: If-Match failed).
    Permanent(anyhow::Error),
}
