//! The host and this process as numbers: CPU, memory, disk space per mount and disk
//! I/O, network I/O, and the process's CPU, resident memory, open files and
//! threads. One reader per process keeps `sysinfo`'s state between samples, because
//! CPU use and I/O rates are differences between two readings.

use std::collections::BTreeSet;

use sysinfo::{Disks, Networks, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use super::series::Point;

pub mod metrics {
    pub const CPU: &str = "host.cpu_percent";
    pub const MEMORY: &str = "host.memory_percent";
    pub const MEMORY_USED: &str = "host.memory_used_bytes";
    pub const DISK: &str = "host.disk_percent";
    pub const DISK_READ: &str = "host.disk_read_bytes_per_s";
    pub const DISK_WRITE: &str = "host.disk_write_bytes_per_s";
    pub const NET_RX: &str = "host.net_rx_bytes_per_s";
    pub const NET_TX: &str = "host.net_tx_bytes_per_s";
    pub const PROCESS_CPU: &str = "process.cpu_percent";
    pub const PROCESS_RSS: &str = "process.rss_bytes";
    pub const PROCESS_FILES: &str = "process.open_files";
    pub const PROCESS_THREADS: &str = "process.threads";
    pub const PROCESS_TASKS: &str = "process.tasks";
}

pub struct HostReader {
    system: System,
    disks: Disks,
    networks: Networks,
    pid: Pid,
}

impl Default for HostReader {
    fn default() -> Self {
        Self::new()
    }
}

impl HostReader {
    pub fn new() -> Self {
        let mut reader = HostReader {
            system: System::new(),
            disks: Disks::new_with_refreshed_list(),
            networks: Networks::new_with_refreshed_list(),
            pid: Pid::from_u32(std::process::id()),
        };
        // The first CPU reading has nothing to compare with; take it now so the
        // first sample is already a real figure.
        reader.system.refresh_cpu_usage();
        reader.refresh_process();
        reader
    }

    fn refresh_process(&mut self) {
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.pid]),
            false,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
    }

    /// Reads everything now; `elapsed_secs` since the last reading turns byte
    /// counts into rates. Blocking (it reads `/proc`): call it off the runtime.
    pub fn read(&mut self, subject: &str, elapsed_secs: f64) -> Vec<Point> {
        let elapsed = elapsed_secs.max(0.001);
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        self.refresh_process();
        self.disks.refresh(true);
        self.networks.refresh(true);

        let mut points = vec![Point::new(
            metrics::CPU,
            subject,
            f64::from(self.system.global_cpu_usage()),
        )];
        let total = self.system.total_memory();
        if total > 0 {
            let used = total.saturating_sub(self.system.available_memory());
            points.push(Point::new(
                metrics::MEMORY,
                subject,
                used as f64 * 100.0 / total as f64,
            ));
            points.push(Point::new(metrics::MEMORY_USED, subject, used as f64));
        }

        let mut mounts = BTreeSet::new();
        let (mut read, mut written) = (0u64, 0u64);
        for disk in self.disks.list() {
            let usage = disk.usage();
            read = read.saturating_add(usage.read_bytes);
            written = written.saturating_add(usage.written_bytes);
            let total = disk.total_space();
            let mount = disk.mount_point().to_string_lossy().into_owned();
            // Bind mounts of one file system show it several times; once is enough.
            if total == 0 || !mounts.insert(mount.clone()) {
                continue;
            }
            let used = total.saturating_sub(disk.available_space());
            points.push(Point::new(
                metrics::DISK,
                format!("{subject}:{mount}"),
                used as f64 * 100.0 / total as f64,
            ));
        }
        points.push(Point::new(
            metrics::DISK_READ,
            subject,
            read as f64 / elapsed,
        ));
        points.push(Point::new(
            metrics::DISK_WRITE,
            subject,
            written as f64 / elapsed,
        ));

        let (mut received, mut sent) = (0u64, 0u64);
        for network in self.networks.list().values() {
            received = received.saturating_add(network.received());
            sent = sent.saturating_add(network.transmitted());
        }
        points.push(Point::new(
            metrics::NET_RX,
            subject,
            received as f64 / elapsed,
        ));
        points.push(Point::new(metrics::NET_TX, subject, sent as f64 / elapsed));

        if let Some(process) = self.system.process(self.pid) {
            points.push(Point::new(
                metrics::PROCESS_CPU,
                subject,
                f64::from(process.cpu_usage()),
            ));
            points.push(Point::new(
                metrics::PROCESS_RSS,
                subject,
                process.memory() as f64,
            ));
            if let Some(files) = process.open_files() {
                points.push(Point::new(metrics::PROCESS_FILES, subject, files as f64));
            }
        }
        if let Some(threads) = threads() {
            points.push(Point::new(metrics::PROCESS_THREADS, subject, threads));
        }
        points
    }
}

/// The process's thread count, from `/proc/self/status` where there is one.
fn threads() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|count| count.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_has_the_host_and_process_figures_in_range() {
        let mut reader = HostReader::new();
        let points = reader.read("here", 1.0);
        let value = |metric: &str| {
            points
                .iter()
                .find(|point| point.metric == metric)
                .map(|point| point.value)
        };
        let memory = value(metrics::MEMORY).expect("memory is read");
        assert!(memory > 0.0 && memory <= 100.0, "{memory}");
        let rss = value(metrics::PROCESS_RSS).expect("the process is found");
        assert!(rss > 1024.0 * 1024.0, "{rss}");
        assert!(value(metrics::PROCESS_THREADS).is_some_and(|threads| threads >= 1.0));
        assert!(
            points
                .iter()
                .filter(|point| point.metric == metrics::DISK)
                .all(|point| point.subject.starts_with("here:")
                    && (0.0..=100.0).contains(&point.value))
        );
    }
}
