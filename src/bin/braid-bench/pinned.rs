//! Per-core figures: braid (and nginx, for comparison) in their own processes pinned to core 0,
//! driven by `wrk` pinned to core 1, with how busy each core and the braid process were, so a
//! figure says whether braid or the driver was the limit.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The core the measured server runs on.
pub const SERVER_CORE: &str = "0";
/// The core the load generator (and the bench upstream) runs on.
pub const DRIVER_CORE: &str = "1";

/// A free loopback port.
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| e.to_string())
}

/// Wait until `port` accepts connections, or `child` (named `what`) exits.
pub fn wait_for(port: u16, child: &mut Child, what: &str) -> Result<(), String> {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{what} exited: {status}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("{what} did not start"))
}

/// `program` run by `taskset` on `core`.
pub fn pinned(core: &str, program: &Path) -> Command {
    let mut cmd = Command::new("taskset");
    cmd.arg("-c").arg(core).arg(program);
    cmd
}

/// `braid serve` with the configuration `toml` (which must listen on `port`), pinned to
/// [`SERVER_CORE`].
pub struct Braid {
    child: Child,
    /// `http://127.0.0.1:port`.
    pub base: String,
}

impl Braid {
    /// Start it from the `braid` binary next to this one.
    pub fn start(dir: &Path, name: &str, toml: &str, port: u16) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("braid");
        if !exe.exists() {
            return Err(format!("{} is not built (scripts/bench builds it)", exe.display()));
        }
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, toml).map_err(|e| e.to_string())?;
        let mut child = pinned(SERVER_CORE, &exe)
            .arg("--config")
            .arg(&path)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("taskset braid: {e}"))?;
        wait_for(port, &mut child, "braid")?;
        Ok(Self { child, base: format!("http://127.0.0.1:{port}") })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Braid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx with one worker and the `server` block `server`, pinned to `core`, in a temporary
/// directory.
pub struct Nginx {
    child: Child,
    /// Its port.
    pub port: u16,
    dir: PathBuf,
}

impl Nginx {
    /// Start it; `server` is given the port to listen on.
    pub fn start(name: &str, core: &str, server: impl Fn(u16) -> String) -> Result<Self, String> {
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or("nginx is not installed")?;
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("braid-bench-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let d = dir.display();
        let conf = format!(
            "worker_processes 1;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\nevents {{ worker_connections 1024; }}\n\
             http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n \
             fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n{}\n}}\n",
            server(port)
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).map_err(|e| e.to_string())?;
        let mut child = pinned(core, Path::new(binary))
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&path)
            .arg("-g")
            .arg("daemon off;")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        wait_for(port, &mut child, "nginx")?;
        Ok(Self { child, port, dir })
    }

    /// The process ids of its master and worker.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.child.id()];
        let children = format!("/proc/{}/task/{}/children", self.child.id(), self.child.id());
        if let Ok(s) = std::fs::read_to_string(children) {
            pids.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
        pids
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        stop(&mut self.child, "TERM");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Stop a server that has worker processes: `signal` first (nginx: `TERM`, gunicorn: `INT`, each
/// one's quick shutdown), so its master ends its workers (a SIGKILLed master leaves them running),
/// then SIGKILL after 2 s.
pub fn stop(child: &mut Child, signal: &str) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
    for _ in 0..100 {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// CPU time (user + system) of the processes `pids`, in clock ticks.
pub fn process_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .filter_map(|s| {
            // Fields after the command name (which may hold spaces) start at state (field 3).
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

/// (busy, total) ticks of each core.
pub fn core_ticks() -> Vec<(u64, u64)> {
    let Ok(s) = std::fs::read_to_string("/proc/stat") else { return Vec::new() };
    s.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let v: Vec<u64> = l.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
            let total: u64 = v.iter().sum();
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            (total - idle, total)
        })
        .collect()
}

/// CPU counters of some processes and of every core at one moment; [`Ticks::window`] measures
/// the time since against them.
pub struct Ticks {
    pids: Vec<u32>,
    processes: u64,
    cores: Vec<(u64, u64)>,
    at: std::time::Instant,
}

/// What the processes and the cores did during a window of time.
pub struct Window {
    /// Share of one core the processes used.
    pub share: f64,
    /// How busy each core was (0 to 1).
    busy: Vec<f64>,
    /// The window's length.
    pub wall: std::time::Duration,
}

impl Ticks {
    /// The counters of `pids` and of every core now.
    pub fn now(pids: &[u32]) -> Self {
        Self { pids: pids.to_vec(), processes: process_ticks(pids), cores: core_ticks(), at: std::time::Instant::now() }
    }

    /// What happened from then to now.
    pub fn window(&self) -> Window {
        let later = Self::now(&self.pids);
        let wall = later.at - self.at;
        // Clock ticks are 1/100 s on Linux.
        let share = later.processes.saturating_sub(self.processes) as f64 / 100.0 / wall.as_secs_f64().max(1e-9);
        let busy = self
            .cores
            .iter()
            .zip(&later.cores)
            .map(|((b0, t0), (b1, t1))| if t1 > t0 { b1.saturating_sub(*b0) as f64 / (t1 - t0) as f64 } else { 0.0 })
            .collect();
        Window { share, busy, wall }
    }
}

impl Window {
    /// How busy `core` (a number, as `taskset` takes it) was.
    pub fn busy(&self, core: &str) -> f64 {
        core.parse::<usize>().ok().and_then(|c| self.busy.get(c).copied()).unwrap_or(0.0)
    }
}

/// What one `wrk` run measured.
pub struct Load {
    /// Requests per second.
    pub rps: f64,
    /// Median and 99th percentile latency, as wrk prints them.
    pub p50: String,
    /// See `p50`.
    pub p99: String,
    /// Non-2xx/3xx answers and socket errors.
    pub errors: u64,
    /// Share of one core the measured processes used.
    pub server_cpu: f64,
    /// How busy the driver's core was.
    pub driver_core: f64,
}

impl Load {
    /// Requests per second per core of the measured processes.
    pub fn per_core(&self) -> f64 {
        self.rps / self.server_cpu.max(0.01)
    }

    /// One line of the bench's table.
    pub fn print(&self, name: &str) {
        println!(
            "{name:<28} {:>9.0} req/s  p50 {:>8}  p99 {:>8}  server {:>4.0} % of a core ({:>7.0} req/s per core)  driver core {:>3.0} %{}",
            self.rps,
            self.p50,
            self.p99,
            self.server_cpu * 100.0,
            self.per_core(),
            self.driver_core * 100.0,
            if self.errors > 0 { format!("  {} errors", self.errors) } else { String::new() }
        );
        if self.driver_core > 0.95 && self.server_cpu < 0.9 {
            println!("{:<28} the driver's core was saturated, not the server: the figure is a floor", "");
        }
    }
}

/// Drive `url` with `wrk` (pinned to [`DRIVER_CORE`], one thread, `connections` keep-alive
/// connections) for `secs` seconds with the extra `headers`; `pids` are the measured processes.
pub fn wrk(url: &str, headers: &[(&str, &str)], connections: u32, secs: u32, pids: &[u32]) -> Result<Load, String> {
    let mut cmd = pinned(DRIVER_CORE, Path::new("wrk"));
    cmd.args(["-t1", "--latency"]).arg(format!("-c{connections}")).arg(format!("-d{secs}s"));
    for (k, v) in headers {
        cmd.arg("-H").arg(format!("{k}: {v}"));
    }
    cmd.arg(url).stdin(Stdio::null()).stderr(Stdio::null());
    let before = Ticks::now(pids);
    let out = cmd.output().map_err(|e| format!("wrk: {e} (scripts/bench installs it)"))?;
    let window = before.window();
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |label: &str| {
        text.lines().find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_owned())).unwrap_or_default()
    };
    let rps: f64 = field("Requests/sec:").parse().map_err(|_| format!("wrk printed no rate:\n{text}"))?;
    let errors = field("Non-2xx or 3xx responses:").parse::<u64>().unwrap_or(0)
        + field("Socket errors:")
            .split(',')
            .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
            .sum::<u64>();
    let (server_cpu, driver_core) = (window.share, window.busy(DRIVER_CORE));
    Ok(Load { rps, p50: field("50%"), p99: field("99%"), errors, server_cpu, driver_core })
}
