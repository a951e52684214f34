//! Rendering in a child process with a memory budget and a time limit.
//!
//! A template language can build a value far larger than its text: a macro that
//! calls itself with `s ~ s` doubles a string at every level, and string
//! repetition and concatenation allocate before any output cap can look. minijinja
//! bounds instructions (fuel) and recursion, not bytes. So a render runs in a forked
//! child whose address space is limited to what it already had plus the budget: a
//! template that needs more makes the child fail its allocation and die, and the
//! server, which never held that memory, reports it.
//!
//! The child runs only the render closure, allocation and two system calls; it
//! never touches the async runtime, logging or locks another thread could hold, and
//! leaves with `_exit`. The answer travels back as JSON through a pipe.

use std::{
    io::Read,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    time::{Duration, Instant},
};

use serde::{Serialize, de::DeserializeOwned};

/// Why an isolated run gave no answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SandboxError {
    #[error("it needed more than {0} MB of memory")]
    Memory(usize),
    #[error("it ran longer than {0:?}")]
    Time(Duration),
    #[error("its answer was larger than {0} bytes")]
    TooLarge(usize),
    #[error("the isolated process failed: {0}")]
    Failed(String),
}

/// Limits of one isolated run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Memory the child may allocate beyond what it inherited.
    pub memory_bytes: usize,
    pub time: Duration,
    /// The largest answer accepted, serialized.
    pub answer_bytes: usize,
}

fn last_os_error(what: &str) -> SandboxError {
    SandboxError::Failed(format!("{what}: {}", std::io::Error::last_os_error()))
}

/// The child's virtual size now, in bytes (the first field of /proc/self/statm).
fn virtual_size() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().next()?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * usize::try_from(page).ok()?)
}

/// Runs `work` in a forked child under `limits` and returns what it returned.
/// Blocking: call it from a blocking thread.
pub fn run<T, F>(limits: Limits, work: F) -> Result<T, SandboxError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> T,
{
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(last_os_error("pipe"));
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child only runs `child` below, which ends in _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(last_os_error("fork"));
    }
    if pid == 0 {
        drop(reader);
        child(writer, limits, work);
    }
    drop(writer);
    let started = Instant::now();
    let outcome = read_answer(reader, limits, started);
    if outcome.is_err() {
        // SAFETY: pid is our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let status = wait(pid);
    let answer = outcome?;
    match status {
        Some(status) if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 => {
            serde_json::from_slice(&answer).map_err(|error| SandboxError::Failed(error.to_string()))
        }
        Some(status) if libc::WIFSIGNALED(status) && started.elapsed() < limits.time => {
            // A failed allocation aborts; so would anything else fatal, but within
            // the limits the budget is what a template can exhaust.
            Err(SandboxError::Memory(limits.memory_bytes / (1024 * 1024)))
        }
        Some(_) => Err(SandboxError::Failed(
            "the renderer stopped abnormally".into(),
        )),
        None => Err(last_os_error("waitpid")),
    }
}

/// The child: limit the address space, run, write the answer, leave.
fn child<T: Serialize, F: FnOnce() -> T>(writer: OwnedFd, limits: Limits, work: F) -> ! {
    if let Some(size) = virtual_size() {
        let cap = (size + limits.memory_bytes) as libc::rlim_t;
        let limit = libc::rlimit {
            rlim_cur: cap,
            rlim_max: cap,
        };
        // SAFETY: a valid rlimit for this process only.
        unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    }
    // A panic must not unwind out of the child into the parent's code paths.
    let Ok(answer) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        serde_json::to_vec(&work()).unwrap_or_default()
    })) else {
        // SAFETY: as below.
        unsafe { libc::_exit(2) }
    };
    let mut written = 0;
    while written < answer.len() {
        let rest = &answer[written..];
        // SAFETY: rest is a live buffer of rest.len() bytes; the descriptor is ours.
        let n = unsafe { libc::write(writer.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            break;
        }
        written += n as usize;
    }
    let code = if written == answer.len() { 0 } else { 1 };
    // SAFETY: _exit ends the child at once, running nothing the parent owns.
    unsafe { libc::_exit(code) }
}

/// Reads the child's answer until it closes the pipe, within the time and size limits.
fn read_answer(reader: OwnedFd, limits: Limits, started: Instant) -> Result<Vec<u8>, SandboxError> {
    let mut answer = Vec::new();
    let mut file = std::fs::File::from(reader);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let left = limits.time.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(SandboxError::Time(limits.time));
        }
        let mut poll = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, millis) };
        if ready < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(last_os_error("poll"));
        }
        if ready == 0 {
            return Err(SandboxError::Time(limits.time));
        }
        match file.read(&mut chunk) {
            Ok(0) => return Ok(answer),
            Ok(n) => {
                answer.extend_from_slice(&chunk[..n]);
                if answer.len() > limits.answer_bytes {
                    return Err(SandboxError::TooLarge(limits.answer_bytes));
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(SandboxError::Failed(error.to_string())),
        }
    }
}

/// Reaps the child; its wait status, or `None` if waiting failed.
fn wait(pid: libc::pid_t) -> Option<i32> {
    let mut status = 0;
    loop {
        // SAFETY: pid is our child; status is a valid out-pointer.
        let reaped = unsafe { libc::waitpid(pid, &mut status, 0) };
        if reaped == pid {
            return Some(status);
        }
        if reaped < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        memory_bytes: 64 * 1024 * 1024,
        time: Duration::from_secs(5),
        answer_bytes: 1024 * 1024,
    };

    #[test]
    fn an_answer_comes_back() {
        let answer: Result<String, String> =
            run(LIMITS, || Ok("rendered".to_string())).expect("ran");
        assert_eq!(answer, Ok("rendered".into()));
    }

    #[test]
    fn running_out_of_memory_ends_the_child_not_the_caller() {
        let outcome = run(LIMITS, || {
            let mut grown = vec![1u8; 1024];
            for _ in 0..40 {
                let copy = grown.clone();
                grown.extend_from_slice(&copy);
            }
            grown.len()
        });
        assert_eq!(outcome, Err(SandboxError::Memory(64)));
    }

    #[test]
    fn running_too_long_is_stopped() {
        let limits = Limits {
            time: Duration::from_millis(200),
            ..LIMITS
        };
        let outcome = run(limits, || {
            std::thread::sleep(Duration::from_secs(30));
            0
        });
        assert_eq!(outcome, Err(SandboxError::Time(Duration::from_millis(200))));
    }

    #[test]
    fn a_huge_answer_is_refused() {
        let outcome = run(LIMITS, || "x".repeat(2 * 1024 * 1024));
        assert_eq!(outcome, Err(SandboxError::TooLarge(1024 * 1024)));
    }
}
