//! Starting the OpenSSH master connection of a target ourselves.
//!
//! The `openssh` crate's `SessionBuilder` always passes
//! `-o StrictHostKeyChecking=…` (strict unless told otherwise), which
//! overrides the user's `~/.ssh/config`: a `StrictHostKeyChecking
//! accept-new` there was ignored, and with an empty `known_hosts` every
//! host failed. So the master is launched here with an argument list we
//! control, and handed to `openssh` as a process-mux session:
//!
//! - `BatchMode=yes` always: ssh never prompts (for a password, a
//!   passphrase or an unknown host key); it fails instead;
//! - `StrictHostKeyChecking` only when the inventory sets
//!   `host_key_checking`; otherwise the user's ssh_config applies, and
//!   without one OpenSSH's own default (`ask`, which under `BatchMode`
//!   refuses unknown hosts) keeps it strict.

use super::inventory::{HostKeyChecking, SshTarget};
use super::ssh::SshOptions;
use openssh::Session;
use std::ffi::OsString;
use std::num::NonZeroUsize;
use std::path::Path;

/// What the master needs besides the target and the pool options.
pub struct MasterParams<'a> {
    pub socket: &'a Path,
    pub log: &'a Path,
    pub connect_secs: u64,
    pub idle: NonZeroUsize,
}

/// The `ssh` arguments that start the master for `target`.
pub fn master_args(target: &SshTarget, options: &SshOptions, p: &MasterParams) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["-E".into(), p.log.into(), "-S".into(), p.socket.into()];
    for a in ["-M", "-f", "-N", "-o", "BatchMode=yes", "-o"] {
        args.push(a.into());
    }
    args.push(format!("ControlPersist={}s", p.idle.get()).into());
    if let Some(option) = host_key_option(target.host_key_checking) {
        args.push("-o".into());
        args.push(option.into());
    }
    for o in [
        format!("ConnectTimeout={}", p.connect_secs),
        "ServerAliveInterval=15".to_string(),
    ] {
        args.push("-o".into());
        args.push(o.into());
    }
    if let Some(port) = target.port {
        args.push("-p".into());
        args.push(port.to_string().into());
    }
    if let Some(user) = &target.user {
        args.push("-l".into());
        args.push(user.into());
    }
    if let Some(key) = &target.identity_file {
        args.push("-o".into());
        args.push("IdentitiesOnly=yes".into());
        args.push("-i".into());
        args.push(key.into());
    }
    if let Some(config) = &options.config_file {
        args.push("-F".into());
        args.push(config.into());
    }
    if let Some(jump) = &target.jump {
        args.push("-J".into());
        args.push(jump.into());
    }
    if let Some(known) = &options.known_hosts_file {
        let mut o = OsString::from("UserKnownHostsFile=");
        o.push(known);
        args.push("-o".into());
        args.push(o);
    }
    // The destination can never be read as an option.
    args.push("--".into());
    args.push(target.host.clone().into());
    args
}

/// `StrictHostKeyChecking` for what the inventory says, or nothing.
pub fn host_key_option(k: HostKeyChecking) -> Option<&'static str> {
    match k {
        HostKeyChecking::Default => None,
        HostKeyChecking::Strict => Some("StrictHostKeyChecking=yes"),
        HostKeyChecking::AcceptNew => Some("StrictHostKeyChecking=accept-new"),
        HostKeyChecking::No => Some("StrictHostKeyChecking=no"),
    }
}

/// Starts the master in a new directory under `control_dir` and returns
/// the session on it. A failure carries ssh's own message.
pub async fn launch(
    target: &SshTarget,
    options: &SshOptions,
    control_dir: &Path,
    connect_secs: u64,
    idle: NonZeroUsize,
) -> Result<Session, openssh::Error> {
    let dir = tempfile::Builder::new()
        .prefix(".ssh-connection")
        .tempdir_in(control_dir)
        .map_err(openssh::Error::Master)?;
    let log = dir.path().join("log");
    let socket = dir.path().join("master");
    let args = master_args(
        target,
        options,
        &MasterParams {
            socket: &socket,
            log: &log,
            connect_secs,
            idle,
        },
    );
    let status = tokio::process::Command::new("ssh")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(false)
        .status()
        .await
        .map_err(openssh::Error::Connect)?;
    if !status.success() {
        let text = std::fs::read_to_string(&log).map_err(openssh::Error::Connect)?;
        return Err(openssh::Error::Connect(std::io::Error::other(
            text.trim().to_string(),
        )));
    }
    Ok(Session::new_process_mux(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn target(k: HostKeyChecking) -> SshTarget {
        SshTarget {
            label: "db1".into(),
            user: Some("ops".into()),
            host: "10.0.0.5".into(),
            port: Some(2222),
            identity_file: None,
            jump: None,
            host_key_checking: k,
            connect_timeout: Duration::from_secs(5),
        }
    }

    fn args(k: HostKeyChecking, options: &SshOptions) -> Vec<String> {
        master_args(
            &target(k),
            options,
            &MasterParams {
                socket: Path::new("/c/master"),
                log: Path::new("/c/log"),
                connect_secs: 5,
                idle: NonZeroUsize::new(300).unwrap(),
            },
        )
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
    }

    #[test]
    fn unset_host_key_checking_leaves_ssh_config_in_force_and_never_prompts() {
        let a = args(HostKeyChecking::Default, &SshOptions::default());
        assert_eq!(
            a.join(" "),
            "-E /c/log -S /c/master -M -f -N -o BatchMode=yes -o ControlPersist=300s \
             -o ConnectTimeout=5 -o ServerAliveInterval=15 -p 2222 -l ops -- 10.0.0.5"
        );
        assert!(!a.iter().any(|x| x.starts_with("StrictHostKeyChecking")));
    }

    #[test]
    fn inventory_host_key_checking_is_passed_as_set() {
        let options = SshOptions {
            config_file: Some("/etc/rb/ssh_config".into()),
            known_hosts_file: Some("/etc/rb/known_hosts".into()),
            ..SshOptions::default()
        };
        for (k, want) in [
            (HostKeyChecking::Strict, "StrictHostKeyChecking=yes"),
            (
                HostKeyChecking::AcceptNew,
                "StrictHostKeyChecking=accept-new",
            ),
            (HostKeyChecking::No, "StrictHostKeyChecking=no"),
        ] {
            let a = args(k, &options);
            assert_eq!(a.iter().filter(|x| x.contains("StrictHost")).count(), 1);
            assert!(a.contains(&want.to_string()), "{a:?}");
            assert!(a.contains(&"BatchMode=yes".to_string()));
            let f = a.iter().position(|x| x == "-F").unwrap();
            assert_eq!(a[f + 1], "/etc/rb/ssh_config");
            assert!(a.contains(&"UserKnownHostsFile=/etc/rb/known_hosts".to_string()));
        }
    }

    #[test]
    fn a_host_that_looks_like_an_option_stays_a_destination() {
        let mut t = target(HostKeyChecking::Default);
        t.host = "-oProxyCommand=touch /tmp/x".into();
        let a = master_args(
            &t,
            &SshOptions::default(),
            &MasterParams {
                socket: Path::new("/s"),
                log: Path::new("/l"),
                connect_secs: 1,
                idle: NonZeroUsize::new(1).unwrap(),
            },
        );
        let n = a.len();
        assert_eq!(a[n - 2], "--");
        assert_eq!(a[n - 1], "-oProxyCommand=touch /tmp/x");
    }
}
