//! The live provider registry: every `providers/*.toml` read at start and read again while braid
//! runs, so a file added, changed or removed takes effect without a restart. A broken file
//! disables its provider (fail closed: the edit may have been meant to tighten it) and is
//! reported (file, key, reason) in the log, `/readyz` and `braid check`; a file that did not
//! change keeps its provider (and its discovery and key caches) as it was. The dev provider is
//! refused unless the settings allow it (an http loopback `public_url`, or `[dev]
//! allow_on_public_url`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use super::registry::{Provider, ProviderKind, Providers, issuers_overlap, parse_file};
use crate::config::ConfigProblem;

/// What the provider files gave at their last reading.
#[derive(Default)]
struct FromFiles {
    /// Providers of well-formed files, in path order.
    list: Vec<Provider>,
    /// Problems of broken or refused files.
    refused: Vec<ConfigProblem>,
    /// Every id the files define.
    ids: Vec<String>,
}

struct FileState {
    contents: String,
    provider: Option<Provider>,
    problems: Vec<ConfigProblem>,
}

/// Why an enabled dev provider file is refused.
pub const DEV_REFUSED: &str = "the dev provider lets anyone sign in as anyone and is refused unless `public_url` is \
                               an http loopback address or `[dev] allow_on_public_url = true` is set";

/// What the registry accepts beyond a well-formed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryPolicy {
    /// Whether an enabled dev provider ("type any name") may be loaded.
    pub allow_dev: bool,
}

impl RegistryPolicy {
    /// The policy the settings call for.
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        Self { allow_dev: settings.dev_allowed() }
    }
}

/// Providers as the files currently say, swapped atomically on every change.
pub struct ProviderRegistry {
    dir: PathBuf,
    policy: RegistryPolicy,
    files: std::sync::Mutex<HashMap<PathBuf, FileState>>,
    current: RwLock<Arc<Providers>>,
    refused: RwLock<Vec<ConfigProblem>>,
    from_files: std::sync::Mutex<FromFiles>,
    sql: std::sync::Mutex<Vec<Provider>>,
    publishing: std::sync::Mutex<()>,
}

impl std::fmt::Debug for ProviderRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRegistry").field("dir", &self.dir).finish()
    }
}

impl ProviderRegistry {
    /// Read `dir` under `policy`; returns the registry and every problem found.
    pub fn load(dir: &Path, policy: RegistryPolicy) -> (Self, Vec<ConfigProblem>) {
        let reg = Self {
            dir: dir.to_owned(),
            policy,
            files: std::sync::Mutex::new(HashMap::new()),
            current: RwLock::new(Arc::new(Providers::default())),
            refused: RwLock::new(Vec::new()),
            from_files: std::sync::Mutex::default(),
            sql: std::sync::Mutex::default(),
            publishing: std::sync::Mutex::default(),
        };
        let problems = reg.reload();
        (reg, problems)
    }

    /// A registry over a fixed list (tests).
    pub fn fixed(providers: Providers) -> Self {
        let ids = providers.all().map(|p| p.id.clone()).collect();
        let list = providers.all().cloned().collect();
        Self {
            dir: PathBuf::new(),
            policy: RegistryPolicy { allow_dev: true },
            files: std::sync::Mutex::new(HashMap::new()),
            current: RwLock::new(Arc::new(providers)),
            refused: RwLock::new(Vec::new()),
            from_files: std::sync::Mutex::new(FromFiles { list, refused: Vec::new(), ids }),
            sql: std::sync::Mutex::default(),
            publishing: std::sync::Mutex::default(),
        }
    }

    /// Every problem that keeps a provider file out of force now (broken files, refused dev
    /// providers, id and issuer clashes).
    pub fn refused(&self) -> Vec<ConfigProblem> {
        match self.refused.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
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
            let (provider, file_problems) = match self.accept(parse_file(path, &contents)) {
                Ok(p) => {
                    tracing::info!(file = %path.display(), provider = %p.id, "provider file loaded");
                    (Some(p), Vec::new())
                }
                Err(ps) => {
                    for p in &ps {
                        tracing::error!(problem = %p, "provider file refused; its provider is disabled until the file is fixed");
                    }
                    problems.extend(ps.iter().cloned());
                    (None, ps)
                }
            };
            files.insert(path.clone(), FileState { contents, provider, problems: file_problems });
        }
        if changed {
            let mut list = Vec::new();
            let mut refused = Vec::new();
            let mut ids = Vec::new();
            for path in &paths {
                let Some(state) = files.get(path) else { continue };
                refused.extend(state.problems.iter().cloned());
                match &state.provider {
                    Some(p) => {
                        ids.push(p.id.clone());
                        list.push(p.clone());
                    }
                    // A broken file still holds its id (the file stem unless it says otherwise).
                    None => ids.extend(path.file_stem().and_then(|s| s.to_str()).map(str::to_owned)),
                }
            }
            drop(files);
            match self.from_files.lock() {
                Ok(mut g) => *g = FromFiles { list, refused, ids },
                Err(poisoned) => *poisoned.into_inner() = FromFiles { list, refused, ids },
            }
            problems.extend(self.publish());
        }
        problems
    }

    /// Replace the providers defined in SQL (the admin service) and publish the merge; returns the
    /// problems that keep some of them out (an id or an issuer a file already uses).
    pub fn set_sql(&self, list: Vec<Provider>) -> Vec<ConfigProblem> {
        match self.sql.lock() {
            Ok(mut g) => *g = list,
            Err(poisoned) => *poisoned.into_inner() = list,
        }
        let problems = self.publish();
        for p in &problems {
            tracing::error!(problem = %p, "provider refused");
        }
        problems
    }

    /// The providers the files define now (well-formed files only), in path order.
    pub fn from_files(&self) -> Vec<Provider> {
        match self.from_files.lock() {
            Ok(g) => g.list.clone(),
            Err(poisoned) => poisoned.into_inner().list.clone(),
        }
    }

    /// The ids the provider files define (also of files that are broken now).
    pub fn file_ids(&self) -> Vec<String> {
        match self.from_files.lock() {
            Ok(g) => g.ids.clone(),
            Err(poisoned) => poisoned.into_inner().ids.clone(),
        }
    }

    /// The directory of the provider files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Check `p` against the registry's policy (the dev provider).
    pub fn admit(&self, p: Provider) -> Result<Provider, Vec<ConfigProblem>> {
        self.accept(Ok(p))
    }

    /// Merge file and SQL providers (files first, in path order) and swap them in; returns the
    /// clashes found (one issuer, one provider; one id, one provider).
    fn publish(&self) -> Vec<ConfigProblem> {
        let _one_at_a_time = self.publishing.lock();
        let (file_list, mut refused) = match self.from_files.lock() {
            Ok(g) => (g.list.clone(), g.refused.clone()),
            Err(poisoned) => {
                let g = poisoned.into_inner();
                (g.list.clone(), g.refused.clone())
            }
        };
        let sql_list = match self.sql.lock() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let mut problems = Vec::new();
        let mut by_id: BTreeMap<String, Provider> = BTreeMap::new();
        for p in file_list.into_iter().chain(sql_list) {
            if let Some(other) = by_id.values().find(|o| issuers_overlap(&o.issuer, &p.issuer)) {
                let clash = ConfigProblem {
                    source: p.source.clone(),
                    key: "issuer".into(),
                    reason: format!(
                        "provider `{}` already uses issuer `{}`, which overlaps `{}`; one issuer, one provider",
                        other.id, other.issuer, p.issuer
                    ),
                };
                problems.push(clash.clone());
                refused.push(clash);
                continue;
            }
            if by_id.contains_key(&p.id) {
                let clash = ConfigProblem {
                    source: p.source.clone(),
                    key: "id".into(),
                    reason: format!("provider id `{}` is defined twice", p.id),
                };
                problems.push(clash.clone());
                refused.push(clash);
                continue;
            }
            by_id.insert(p.id.clone(), p);
        }
        match self.refused.write() {
            Ok(mut g) => *g = refused,
            Err(poisoned) => *poisoned.into_inner() = refused,
        }
        let next = Arc::new(Providers::from_list(by_id.into_values().collect()));
        match self.current.write() {
            Ok(mut g) => *g = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        problems
    }

    /// A parsed file under the registry's policy.
    fn accept(&self, parsed: Result<Provider, Vec<ConfigProblem>>) -> Result<Provider, Vec<ConfigProblem>> {
        let p = parsed?;
        if p.kind == ProviderKind::Dev && p.enabled && !self.policy.allow_dev {
            return Err(vec![ConfigProblem {
                source: p.source.clone(),
                key: "kind".into(),
                reason: DEV_REFUSED.into(),
            }]);
        }
        Ok(p)
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
