//! Files from the Hugging Face hub, stored in the hub's own cache layout so that copies Python
//! tools already downloaded are reused (and ours are reused by them):
//! `<cache>/<datasets|models>--<owner>--<name>/{refs/<revision>, blobs/<etag>, snapshots/<commit>/<file>}`.
//!
//! Honours `HF_HUB_CACHE`, `HF_HOME` (`$HF_HOME/hub`), `HF_ENDPOINT`, `HF_TOKEN` and
//! `HF_HUB_OFFLINE`. Downloads go to `blobs/<etag>.incomplete`, resume with an HTTP range request,
//! are checked against the announced size, and are renamed into place only when complete.
//!
//! Why not the `hf-hub` crate: its latest release (0.4.3) pins reqwest 0.12 and indicatif 0.17,
//! so beside this workspace's reqwest 0.13 and indicatif 0.18 it adds 45 crates (130 -> 175 in
//! `cargo tree` of the three together, 2026-12-08), a second HTTP and TLS stack among them; and it
//! has no resumable range download, which a large dataset over a slow link needs.

use std::io::Write;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;

/// Hub repository kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RepoKind {
    /// A model repository.
    Model,
    /// A dataset repository.
    Dataset,
}

impl RepoKind {
    fn folder_prefix(self) -> &'static str {
        match self {
            RepoKind::Model => "models",
            RepoKind::Dataset => "datasets",
        }
    }
    fn url_prefix(self) -> &'static str {
        match self {
            RepoKind::Model => "",
            RepoKind::Dataset => "datasets/",
        }
    }
}

/// Hub failures.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HubError {
    /// Offline mode and nothing cached.
    #[error("{file} of {repo} is not in the hub cache ({cache}) and HF_HUB_OFFLINE is set")]
    Offline {
        /// Repository id.
        repo: String,
        /// File name.
        file: String,
        /// Cache folder.
        cache: String,
    },
    /// HTTP or network failure.
    #[error("downloading {url}: {message}")]
    Http {
        /// URL.
        url: String,
        /// What happened.
        message: String,
    },
    /// The downloaded size does not match.
    #[error(
        "downloading {url}: got {got} bytes, expected {expected} (truncated or corrupt download; the partial file was removed, run again to retry)"
    )]
    Size {
        /// URL.
        url: String,
        /// Bytes received.
        got: u64,
        /// Bytes announced.
        expected: u64,
    },
    /// Cache I/O.
    #[error("hub cache {path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// Where and how to reach the hub.
#[derive(Debug, Clone)]
pub(crate) struct Hub {
    /// Base URL (`HF_ENDPOINT`, default `https://huggingface.co`).
    pub endpoint: String,
    /// Cache root.
    pub cache: PathBuf,
    /// Access token (`HF_TOKEN`); never logged.
    pub token: Option<String>,
    /// `HF_HUB_OFFLINE`.
    pub offline: bool,
    /// Show a progress bar.
    pub progress: bool,
}

impl Hub {
    /// Settings from the environment, as `huggingface_hub` reads them.
    pub(crate) fn from_env() -> Hub {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let home = var("HOME").unwrap_or_else(|| ".".into());
        let cache = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .map(PathBuf::from)
            .or_else(|| var("HF_HOME").map(|h| PathBuf::from(h).join("hub")))
            .unwrap_or_else(|| PathBuf::from(home).join(".cache/huggingface/hub"));
        Hub {
            endpoint: var("HF_ENDPOINT")
                .unwrap_or_else(|| "https://huggingface.co".into())
                .trim_end_matches('/')
                .to_string(),
            cache,
            token: var("HF_TOKEN").or_else(|| var("HUGGING_FACE_HUB_TOKEN")),
            offline: var("HF_HUB_OFFLINE")
                .is_some_and(|v| !matches!(v.as_str(), "0" | "false" | "False")),
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }

    fn repo_dir(&self, kind: RepoKind, repo: &str) -> PathBuf {
        self.cache.join(format!(
            "{}--{}",
            kind.folder_prefix(),
            repo.replace('/', "--")
        ))
    }

    /// The cached copy of a file at `revision`, if there is one.
    pub(crate) fn cached(
        &self,
        kind: RepoKind,
        repo: &str,
        file: &str,
        revision: &str,
    ) -> Option<PathBuf> {
        let dir = self.repo_dir(kind, repo);
        let commit = std::fs::read_to_string(dir.join("refs").join(revision)).ok();
        if let Some(commit) = commit {
            let path = dir.join("snapshots").join(commit.trim()).join(file);
            if path.is_file() {
                return Some(path);
            }
        }
        let direct = dir.join("snapshots").join(revision).join(file);
        if direct.is_file() {
            return Some(direct);
        }
        if self.offline {
            let snapshots = std::fs::read_dir(dir.join("snapshots")).ok()?;
            return snapshots
                .filter_map(Result::ok)
                .map(|e| e.path().join(file))
                .find(|p| p.is_file());
        }
        None
    }

    /// A file of a hub repository: from the cache, or downloaded into it.
    pub(crate) async fn file(
        &self,
        kind: RepoKind,
        repo: &str,
        file: &str,
    ) -> Result<PathBuf, HubError> {
        let revision = "main";
        if let Some(path) = self.cached(kind, repo, file, revision) {
            return Ok(path);
        }
        if self.offline {
            return Err(HubError::Offline {
                repo: repo.into(),
                file: file.into(),
                cache: self.cache.display().to_string(),
            });
        }
        let url = format!(
            "{}/{}{repo}/resolve/{revision}/{file}",
            self.endpoint,
            kind.url_prefix()
        );
        let meta = self.metadata(&url).await?;
        let dir = self.repo_dir(kind, repo);
        let blob = dir.join("blobs").join(&meta.etag);
        if !blob.is_file() {
            self.download(&url, &blob, meta.size).await?;
        }
        let snapshot = dir.join("snapshots").join(&meta.commit).join(file);
        link_snapshot(&blob, &snapshot)?;
        let refs = dir.join("refs");
        std::fs::create_dir_all(&refs).map_err(|e| io(&refs, e))?;
        std::fs::write(refs.join(revision), &meta.commit).map_err(|e| io(&refs, e))?;
        Ok(snapshot)
    }

    fn request(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        url: &str,
    ) -> reqwest::RequestBuilder {
        let builder = client.request(method, url).header(
            "user-agent",
            concat!("autobench/", env!("CARGO_PKG_VERSION")),
        );
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    async fn metadata(&self, url: &str) -> Result<Meta, HubError> {
        let http = |message: String| HubError::Http {
            url: url.to_string(),
            message,
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| http(e.to_string()))?;
        let response = self
            .request(&client, reqwest::Method::HEAD, url)
            .send()
            .await
            .map_err(|e| http(e.to_string()))?;
        let status = response.status();
        if !(status.is_success() || status.is_redirection()) {
            let hint = if status.as_u16() == 401 || status.as_u16() == 403 {
                " (set HF_TOKEN for gated or private repositories)"
            } else {
                ""
            };
            return Err(http(format!("HTTP {status}{hint}")));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let etag = header("x-linked-etag")
            .or_else(|| header("etag"))
            .ok_or_else(|| http("no ETag in the response".into()))?;
        let etag = etag.trim_start_matches("W/").trim_matches('"').to_string();
        let size = header("x-linked-size")
            .or_else(|| header("content-length"))
            .and_then(|s| s.parse().ok());
        let commit = header("x-repo-commit").unwrap_or_else(|| "main".into());
        Ok(Meta { etag, size, commit })
    }

    async fn download(
        &self,
        url: &str,
        blob: &Path,
        expected: Option<u64>,
    ) -> Result<(), HubError> {
        let http = |message: String| HubError::Http {
            url: url.to_string(),
            message,
        };
        let dir = blob.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let partial = blob.with_extension("incomplete");
        let mut have = std::fs::metadata(&partial).map_or(0, |m| m.len());
        if expected.is_some_and(|size| have > size) {
            // Longer than the file itself: not a prefix of it. Start over.
            std::fs::remove_file(&partial).map_err(|e| io(&partial, e))?;
            have = 0;
        }
        let client = reqwest::Client::new();
        let mut request = self.request(&client, reqwest::Method::GET, url);
        if have > 0 {
            request = request.header("range", format!("bytes={have}-"));
        }
        let response = request.send().await.map_err(|e| http(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(http(format!("HTTP {status}")));
        }
        let append = have > 0 && status.as_u16() == 206;
        if !append {
            have = 0;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&partial)
            .map_err(|e| io(&partial, e))?;
        let bar = self.progress.then(|| progress_bar(expected, have, url));
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                http(format!(
                    "connection lost after {have} bytes ({e}); run again to resume"
                ))
            })?;
            file.write_all(&chunk).map_err(|e| io(&partial, e))?;
            have += chunk.len() as u64;
            if let Some(bar) = &bar {
                bar.set_position(have);
            }
        }
        file.sync_all().map_err(|e| io(&partial, e))?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        if let Some(size) = expected
            && size != have
        {
            let _ = std::fs::remove_file(&partial);
            return Err(HubError::Size {
                url: url.to_string(),
                got: have,
                expected: size,
            });
        }
        std::fs::rename(&partial, blob).map_err(|e| io(blob, e))
    }
}

struct Meta {
    etag: String,
    size: Option<u64>,
    commit: String,
}

fn io(path: &Path, source: std::io::Error) -> HubError {
    HubError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn progress_bar(size: Option<u64>, start: u64, url: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(size.unwrap_or(0));
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(url.rsplit('/').next().unwrap_or("download").to_string());
    bar.set_position(start);
    bar
}

fn link_snapshot(blob: &Path, snapshot: &Path) -> Result<(), HubError> {
    let dir = snapshot.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let _ = std::fs::remove_file(snapshot);
    let depth = snapshot
        .strip_prefix(
            blob.parent()
                .and_then(Path::parent)
                .unwrap_or(Path::new(".")),
        )
        .map_or(2, |p| p.components().count() - 1);
    let relative = PathBuf::from("../".repeat(depth))
        .join("blobs")
        .join(blob.file_name().unwrap_or_default());
    std::os::unix::fs::symlink(&relative, snapshot)
        .or_else(|_| std::fs::copy(blob, snapshot).map(|_| ()))
        .map_err(|e| io(snapshot, e))
}

/// The ShareGPT file bench_serving uses.
pub(crate) const SHAREGPT_REPO: &str = "anon8231489123/ShareGPT_Vicuna_unfiltered";
/// Its file name.
pub(crate) const SHAREGPT_FILE: &str = "ShareGPT_V3_unfiltered_cleaned_split.json";
