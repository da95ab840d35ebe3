//! What the server process costs, read from `/proc/<pid>/status` (resident memory) and
//! `/proc/<pid>/stat` (CPU time, utime + stime), and the file-descriptor limit of this process.

use std::time::Instant;

/// One reading of the server process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    /// Resident set size in KiB (`VmRSS`).
    pub(crate) rss_kib: u64,
    /// User + system CPU time in seconds.
    pub(crate) cpu_secs: f64,
    /// When it was taken.
    pub(crate) at: Instant,
}

impl Sample {
    /// CPU seconds used since `earlier`, per wall second (1.0 = one core busy).
    pub(crate) fn cores_since(&self, earlier: &Sample) -> f64 {
        let wall = self.at.duration_since(earlier.at).as_secs_f64();
        if wall <= 0.0 {
            return 0.0;
        }
        (self.cpu_secs - earlier.cpu_secs) / wall
    }
}

/// The server process to watch, if the caller named one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Server {
    pid: Option<u32>,
}

impl Server {
    /// Watches `pid` (`None`: every reading is empty).
    pub(crate) fn new(pid: Option<u32>) -> Self {
        Server { pid }
    }

    /// A reading now, or `None` without a pid or when the process is gone.
    pub(crate) fn sample(&self) -> Option<Sample> {
        let pid = self.pid?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        Some(Sample {
            rss_kib: parse_rss_kib(&status)?,
            cpu_secs: parse_cpu_ticks(&stat)? as f64 / ticks_per_second(),
            at: Instant::now(),
        })
    }
}

fn ticks_per_second() -> f64 {
    rustix::param::clock_ticks_per_second() as f64
}

/// `VmRSS:   12345 kB` from a `/proc/<pid>/status` text.
pub(crate) fn parse_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// utime + stime (fields 14 and 15, in clock ticks) from a `/proc/<pid>/stat` line. The
/// command name in field 2 may hold spaces and parentheses, so fields are counted after the
/// last `)`.
pub(crate) fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // After the name: field 3 (state) is index 0, so utime (14) is index 11.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Raises this process' open-file limit from soft to hard (first the hard one to 65,536 when
/// allowed: `floor` holds both ends of 10,000 sockets); returns the soft limit in force.
pub(crate) fn raise_nofile_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.maximum.is_some_and(|max| max < 65_536) {
        let wider = rustix::process::Rlimit {
            current: Some(65_536),
            maximum: Some(65_536),
        };
        // Only a privileged process may raise its hard limit; otherwise nothing changes.
        if setrlimit(Resource::Nofile, wider).is_ok() {
            limit = getrlimit(Resource::Nofile);
        }
    }
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        // Failing leaves the old limit; connections beyond it fail and are counted.
        let _ = setrlimit(Resource::Nofile, limit);
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_from_status() {
        let status = "Name:\troost\nVmPeak:\t  999 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 1 kB\n";
        assert_eq!(parse_rss_kib(status), Some(12345));
        assert_eq!(parse_rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn cpu_from_stat_with_odd_names() {
        let stat = "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 3 0 100 1000000 500 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("4242 (x) S 1 2"), None);
        assert_eq!(parse_cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn no_pid_no_sample() {
        assert!(Server::new(None).sample().is_none());
    }
}
