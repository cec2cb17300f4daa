//! Handing a seccomp notification listener to an agent over a unix
//! socket, as the OCI runtime spec's `linux.seccomp.listenerPath` asks:
//! one message whose payload is the container process state (JSON) and
//! whose SCM_RIGHTS carry the listener fd.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

/// Where a container's seccomp listeners go: the init's at create, each
/// exec'd process's at its exec (instead of to the caller through
/// `take_seccomp_listener`). The profile must notify.
///
/// ```
/// use vpsos_core::security::seccomp_socket::ListenerSocket;
/// let l = ListenerSocket { path: "/run/seccomp-agent.sock".into(), metadata: "ct1".into() };
/// let json = serde_json::to_string(&l).unwrap();
/// assert_eq!(serde_json::from_str::<ListenerSocket>(&json).unwrap(), l);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSocket {
    /// The agent's unix socket (absolute).
    pub path: PathBuf,
    /// Opaque data for the agent (OCI `listenerMetadata`).
    #[serde(default)]
    pub metadata: String,
}

impl ListenerSocket {
    /// Send `listener` (of process `pid` of the container whose OCI state
    /// is `state`) to the agent: OCI's ContainerProcessState as the
    /// payload, the fd as `fds[0]`, named `seccompFd`.
    pub(crate) fn send(
        &self,
        listener: BorrowedFd<'_>,
        pid: i32,
        state: serde_json::Value,
    ) -> Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        let what = || format!("sending the seccomp listener to {}", self.path.display());
        let sock = UnixStream::connect(&self.path)
            .map_err(|e| Error::from_errno(e.raw_os_error().unwrap_or(libc::EIO), what()))?;
        let payload = serde_json::json!({
            "ociVersion": "1.0.2",
            "fds": ["seccompFd"],
            "pid": pid,
            "metadata": self.metadata,
            "state": state,
        })
        .to_string();
        let iov = [std::io::IoSlice::new(payload.as_bytes())];
        let fds = [listener.as_raw_fd()];
        sendmsg::<()>(
            sock.as_raw_fd(),
            &iov,
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(|e| Error::from_errno(e as i32, what()))?;
        Ok(())
    }
}
