//! CPU time and memory of a process, from Linux's `/proc`.

use std::time::Duration;

/// `USER_HZ`: the unit of `utime`/`stime` in `/proc/<pid>/stat`, 100 on every Linux ABI that
/// matters (the kernel fixes it for userspace regardless of `CONFIG_HZ`).
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time used so far by process `pid` ("self" for this one), at 10 ms
/// resolution. `None` if `/proc` is unreadable.
pub fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|ticks| Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// utime + stime (fields 14 and 15) from a `/proc/<pid>/stat` line. The command name (field
/// 2) is in parentheses and may itself contain spaces and parentheses, so fields are counted
/// from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // state is field 3 → index 0
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// A `Vm*` line of `/proc/<pid>/status` in KiB, e.g. `VmRSS` (resident now) or `VmHWM`
/// (peak resident).
pub fn vm_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_kib(&status, field)
}

fn parse_vm_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_skip_odd_command_names() {
        let stat = "1234 (we ird) (name) S 1 1234 1234 0 -1 4194560 100 0 0 0 \
                    250 31 0 0 20 0 3 0 100 1000 50";
        assert_eq!(parse_cpu_ticks(stat), Some(281));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn vm_lines() {
        let status = "Name:\tx\nVmHWM:\t   12345 kB\nVmRSS:\t    2000 kB\n";
        assert_eq!(parse_vm_kib(status, "VmHWM"), Some(12345));
        assert_eq!(parse_vm_kib(status, "VmRSS"), Some(2000));
        assert_eq!(parse_vm_kib(status, "VmPeak"), None);
    }

    #[test]
    fn reads_this_process() {
        assert!(cpu_time("self").is_some());
        assert!(vm_kib("self", "VmRSS").unwrap() > 0);
    }
}
