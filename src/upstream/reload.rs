//! The live provider registry: every `providers/*.toml` read at start and read again while braid
//! runs, so a file added, changed or removed takes effect without a restart. A broken file is
//! reported (file, key, reason) and the last good version of its provider stays active; a file
//! that did not change keeps its provider (and its discovery and key caches) as it was.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use super::registry::{Provider, Providers, parse_file};
use crate::config::ConfigProblem;

struct FileState {
    contents: String,
    last_good: Option<Provider>,
}

/// Providers as the files currently say, swapped atomically on every change.
pub struct ProviderRegistry {
    dir: PathBuf,
    files: std::sync::Mutex<HashMap<PathBuf, FileState>>,
    current: RwLock<Arc<Providers>>,
}

impl std::fmt::Debug for ProviderRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRegistry").field("dir", &self.dir).finish()
    }
}

impl ProviderRegistry {
    /// Read `dir`; returns the registry and every problem found.
    pub fn load(dir: &Path) -> (Self, Vec<ConfigProblem>) {
        let reg = Self {
            dir: dir.to_owned(),
            files: std::sync::Mutex::new(HashMap::new()),
            current: RwLock::new(Arc::new(Providers::default())),
        };
        let problems = reg.reload();
        (reg, problems)
    }

    /// A registry over a fixed list (tests).
    pub fn fixed(providers: Providers) -> Self {
        Self {
            dir: PathBuf::new(),
            files: std::sync::Mutex::new(HashMap::new()),
            current: RwLock::new(Arc::new(providers)),
        }
    }

    /// The providers in force now.
    pub fn snapshot(&self) -> Arc<Providers> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Read the directory again; returns the problems of files that changed since last time.
    pub fn reload(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let listing = match std::fs::read_dir(&self.dir) {
            Ok(e) => e.flatten().map(|e| e.path()).collect::<Vec<_>>(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                problems.push(ConfigProblem {
                    source: self.dir.display().to_string(),
                    key: "-".into(),
                    reason: e.to_string(),
                });
                return problems;
            }
        };
        let mut paths: Vec<PathBuf> =
            listing.into_iter().filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml")).collect();
        paths.sort();
        let Ok(mut files) = self.files.lock() else { return problems };
        let mut changed = false;
        files.retain(|path, _| {
            let keep = paths.contains(path);
            if !keep {
                tracing::info!(file = %path.display(), "provider file removed");
                changed = true;
            }
            keep
        });
        for path in &paths {
            let contents = match std::fs::read_to_string(path) {
                Ok(c) => c,
                Err(e) => {
                    problems.push(ConfigProblem {
                        source: path.display().to_string(),
                        key: "-".into(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            if files.get(path).is_some_and(|f| f.contents == contents) {
                continue;
            }
            changed = true;
            let previous = files.remove(path).and_then(|f| f.last_good);
            let last_good = match parse_file(path, &contents) {
                Ok(p) => {
                    tracing::info!(file = %path.display(), provider = %p.id, "provider file loaded");
                    Some(p)
                }
                Err(mut ps) => {
                    for p in &ps {
                        tracing::error!(problem = %p, kept_last_good = previous.is_some(), "provider file refused");
                    }
                    problems.append(&mut ps);
                    previous
                }
            };
            files.insert(path.clone(), FileState { contents, last_good });
        }
        if changed {
            let mut by_id: BTreeMap<String, Provider> = BTreeMap::new();
            for path in &paths {
                let Some(p) = files.get(path).and_then(|f| f.last_good.clone()) else { continue };
                if let Some(other) = by_id.values().find(|o| o.issuer == p.issuer) {
                    problems.push(ConfigProblem {
                        source: path.display().to_string(),
                        key: "issuer".into(),
                        reason: format!(
                            "provider `{}` already uses issuer `{}`; one issuer, one provider",
                            other.id, p.issuer
                        ),
                    });
                    continue;
                }
                if by_id.contains_key(&p.id) {
                    problems.push(ConfigProblem {
                        source: path.display().to_string(),
                        key: "id".into(),
                        reason: format!("provider id `{}` is used by another file too", p.id),
                    });
                    continue;
                }
                by_id.insert(p.id.clone(), p);
            }
            let next = Arc::new(Providers::from_list(by_id.into_values().collect()));
            match self.current.write() {
                Ok(mut g) => *g = next,
                Err(poisoned) => *poisoned.into_inner() = next,
            }
        }
        problems
    }

    /// Read the directory again every `every` until the registry is dropped.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(reg) = weak.upgrade() else { break };
                let _ = tokio::task::spawn_blocking(move || reg.reload()).await;
            }
        });
    }
}
