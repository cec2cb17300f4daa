//! The container's terminals and console log.

use serde::{Deserialize, Serialize};

/// The container's terminals and console log. With the default /dev
/// (`default_mounts`), its monitor holds a pty for /dev/console and one for
/// each of /dev/tty1..N; without it, or with `enabled` off (an
/// application container, OCI's `terminal: false`), there are none.
///
/// ```
/// use vpsos_core::config::Console;
/// let c = Console::default();
/// assert_eq!((c.enabled, c.ttys, c.log_bytes), (true, 4, 128 * 1024));
/// assert!(!Console::none().enabled);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Console {
    /// Give the container a console (and its ttys).
    pub enabled: bool,
    /// How many ttys besides the console (LXC's default: 4; at most 16).
    pub ttys: u32,
    /// How many bytes of recent console output the monitor keeps in the
    /// state directory (`console.log` and `console.log.0`; 0: none).
    pub log_bytes: u64,
}

impl Default for Console {
    fn default() -> Console {
        Console {
            enabled: true,
            ttys: 4,
            log_bytes: 128 * 1024,
        }
    }
}

impl Console {
    /// No console, no ttys, no log.
    pub fn none() -> Console {
        Console {
            enabled: false,
            ttys: 0,
            log_bytes: 0,
        }
    }
}
