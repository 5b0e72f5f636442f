//! What the benchmarks share: starting the local stack as its own process and reading its memory, and
//! an emulated Lambda Runtime API.

pub mod lambda;
pub mod runtime;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The local stack's release binary, running; killed when dropped.
pub struct Stack {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub url: String,
}

impl Stack {
    /// Starts `bin` on free ports with `vars` added to its environment, and waits for its banner.
    pub fn start(bin: &str, vars: &[(&str, &str)]) -> Result<Stack, String> {
        let mut child = Command::new(bin)
            .envs(vars.iter().copied())
            .env("SIMGUARD_LOCAL_PORT", "0")
            .env("SIMGUARD_SANDBOX_PORT", "0")
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{bin}: {e} (build it with `cargo build --release -p simguard-local`)"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines.next().ok_or("the local stack stopped before its banner")?.map_err(|e| e.to_string())?;
            if let Some(rest) = line.trim().strip_prefix("site:") {
                break rest.trim().trim_end_matches('/').to_owned();
            }
        };
        // Keep draining its output so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Stack { child, url })
    }

    /// Its resident memory now, in KiB (Linux: `VmRSS` of /proc/<pid>/status).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
