//! `--log` / `--log-format` / `--debug`: errors (and debug lines) as
//! runc writes them, text or one JSON object per line
//! (`{"level":"error","msg":"…","time":"…"}`), which go-runc and conmon
//! read back to say why a command failed.

use crate::cli::Cli;
use std::fs::File;
use std::io::Write;
use std::sync::Mutex;

/// The log file, if one was asked for.
pub struct Log {
    file: Option<Mutex<File>>,
    json: bool,
    debug: bool,
}

impl Log {
    /// Open (append) the file `--log` names; a log that cannot be opened
    /// is not an error of the command (runc's behaviour is the same).
    pub fn open(cli: &Cli) -> Log {
        let file = cli.log.as_ref().and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        });
        Log {
            file: file.map(Mutex::new),
            json: cli.log_format == "json",
            debug: cli.debug,
        }
    }

    /// Log an error.
    pub fn error(&self, msg: &str) {
        self.write("error", msg);
    }

    /// Log a warning.
    pub fn warn(&self, msg: &str) {
        self.write("warning", msg);
    }

    /// Log a debug line (with --debug only).
    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }

    fn write(&self, level: &str, msg: &str) {
        let Some(f) = &self.file else {
            return;
        };
        let time = rfc3339(std::time::SystemTime::now());
        let line = if self.json {
            serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
        } else {
            format!("time=\"{time}\" level={level} msg={msg:?}")
        };
        if let Ok(mut f) = f.lock() {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// `t` as RFC 3339 in UTC with nanoseconds (`2026-11-30T05:41:53.123456789Z`).
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // civil from days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_795_931_313, 5);
        assert_eq!(super::rfc3339(t), "2026-11-29T05:48:33.000000005Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(super::rfc3339(leap), "2000-02-29T00:00:00.000000000Z");
    }
}
