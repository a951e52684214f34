//! What a process costs, read from /proc (Linux): resident and peak memory, CPU time,
//! sampled in the background so a measured window can be cut out of a longer run; and
//! CPU pinning, so the load generator and the server under test do not share a core.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// One reading of a process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    /// Resident set, KiB (`VmRSS`).
    pub rss_kib: u64,
    /// The part of the resident set no other process can share, KiB (`RssAnon`:
    /// heap, stacks, relocated data); the rest is the binary's pages and files.
    pub anon_kib: u64,
    /// Peak resident set since start, KiB (`VmHWM`).
    pub peak_kib: u64,
    /// User plus system CPU time.
    pub cpu: Duration,
}

/// Reads `pid` (or this process with `None`). `None` when the process is gone.
pub fn usage(pid: Option<u32>) -> Option<Usage> {
    let dir = match pid {
        Some(pid) => format!("/proc/{pid}"),
        None => "/proc/self".to_string(),
    };
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    Some(Usage {
        rss_kib: status_kib(&status, "VmRSS:")?,
        anon_kib: status_kib(&status, "RssAnon:")?,
        peak_kib: status_kib(&status, "VmHWM:")?,
        cpu: stat_cpu(&stat)?,
    })
}

fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// utime + stime from `/proc/PID/stat`. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last `)`.
fn stat_cpu(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(ticks(utime + stime))
}

fn ticks(count: u64) -> Duration {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = if per_second > 0 {
        per_second as u64
    } else {
        100
    };
    Duration::from_nanos(count.saturating_mul(1_000_000_000) / per_second)
}

/// CPUs this process may run on.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Restricts this process to `cpu`. Call it before any thread starts (threads created
/// afterwards inherit the mask; existing ones keep theirs).
pub fn pin_self(cpu: usize) -> std::io::Result<()> {
    // SAFETY: the set is zeroed and filled through libc's own macros; pid 0 means the
    // calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Readings of one process every `every`, in the background, until dropped.
pub struct Sampler {
    samples: Arc<Mutex<Vec<(Instant, Usage)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn start(pid: Option<u32>, every: Duration) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let sink = samples.clone();
        let task = tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            loop {
                interval.tick().await;
                let Some(reading) = usage(pid) else { break };
                if let Ok(mut samples) = sink.lock() {
                    samples.push((Instant::now(), reading));
                }
            }
        });
        Sampler { samples, task }
    }

    fn readings(&self) -> Vec<(Instant, Usage)> {
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// CPU time spent between `from` and `to`, from the readings nearest to each.
    pub fn cpu_between(&self, from: Instant, to: Instant) -> Duration {
        let readings = self.readings();
        let nearest = |at: Instant| {
            readings
                .iter()
                .min_by_key(|(when, _)| if *when > at { *when - at } else { at - *when })
                .map(|(_, usage)| usage.cpu)
        };
        match (nearest(from), nearest(to)) {
            (Some(start), Some(end)) => end.saturating_sub(start),
            _ => Duration::ZERO,
        }
    }

    /// The highest peak resident set seen, KiB.
    pub fn peak_kib(&self) -> u64 {
        self.readings()
            .iter()
            .map(|(_, usage)| usage.peak_kib)
            .max()
            .unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_read_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 1000 10";
        assert_eq!(stat_cpu(stat), Some(ticks(300)));
        assert_eq!(stat_cpu("garbage"), None);
    }

    #[test]
    fn memory_fields_are_read_in_kib() {
        let status =
            "Name:\ttideway\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nRssAnon:\t    4096 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(10240));
        assert_eq!(status_kib(status, "RssAnon:"), Some(4096));
        assert_eq!(status_kib(status, "VmHWM:"), Some(20480));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        let own = usage(None).expect("/proc/self");
        assert!(own.rss_kib > 0 && own.peak_kib >= own.rss_kib);
        assert!(own.anon_kib > 0 && own.anon_kib <= own.rss_kib);
        assert_eq!(usage(Some(u32::MAX)), None);
    }

    #[tokio::test]
    async fn the_sampler_measures_cpu_spent_in_a_window() {
        let sampler = Sampler::start(None, Duration::from_millis(20));
        tokio::time::sleep(Duration::from_millis(60)).await;
        let from = Instant::now();
        // Spin until this process has used 300 ms more CPU, however busy the machine.
        let start = usage(None).expect("/proc/self").cpu;
        let mut x = 0u64;
        while usage(None).expect("/proc/self").cpu < start + Duration::from_millis(300) {
            for _ in 0..10_000 {
                x = x.wrapping_add(1);
            }
        }
        std::hint::black_box(x);
        tokio::time::sleep(Duration::from_millis(60)).await;
        let to = Instant::now();
        let spent = sampler.cpu_between(from, to);
        assert!(spent >= Duration::from_millis(250), "spent {spent:?}");
        assert!(sampler.peak_kib() > 0);
    }
}
