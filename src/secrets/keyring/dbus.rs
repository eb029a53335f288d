//! The Secret Service over the D-Bus session bus (zbus and the
//! `secret-service` crate, pure Rust, on the run's tokio runtime): connect,
//! open an encrypted (DH) session, search by `service` and `username`,
//! unlock when locked, read the secret. Each failure is told apart so the
//! operator learns which piece is missing; every wait is bounded.

use super::Failure;
use secret_service::{EncryptionType, Error as SsError, SecretService};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

/// The secret of the one item with `service` and `username` = `name`.
pub async fn lookup(
    service: &str,
    name: &str,
    lookup: Duration,
    unlock: Duration,
) -> Result<String, Failure> {
    let conn = within(lookup, connect()).await??;
    let ss = within(
        lookup,
        SecretService::connect_with_existing(EncryptionType::Dh, conn),
    )
    .await?
    .map_err(opening)?;
    let attributes = HashMap::from([("service", service), ("username", name)]);
    let found = within(lookup, ss.search_items(attributes))
        .await?
        .map_err(other)?;
    let item = match (found.unlocked.len() + found.locked.len(), &found) {
        (0, _) => return Err(Failure::NotFound),
        (1, f) if !f.unlocked.is_empty() => &f.unlocked[0],
        (1, f) => {
            let item = &f.locked[0];
            let unlocked = tokio::time::timeout(unlock, item.unlock()).await;
            match unlocked {
                Err(_) => {
                    return Err(Failure::Locked(format!(
                        "it was not unlocked within {}",
                        crate::duration::format_duration(unlock)
                    )));
                }
                Ok(Err(e)) => return Err(locked(e)),
                Ok(Ok(())) => item,
            }
        }
        (n, _) => return Err(Failure::Ambiguous(n)),
    };
    let bytes = within(lookup, item.get_secret())
        .await?
        .map_err(|e| match e {
            SsError::Locked => Failure::Locked("it was locked again".into()),
            e => other(e),
        })?;
    String::from_utf8(bytes).map_err(|_| Failure::NotUtf8)
}

/// `f`, or [`Failure::Timeout`] after `limit`.
async fn within<T>(limit: Duration, f: impl Future<Output = T>) -> Result<T, Failure> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| Failure::Timeout(limit))
}

/// The session bus at `DBUS_SESSION_BUS_ADDRESS`, else where zbus and
/// libdbus look without it (`$XDG_RUNTIME_DIR/bus`, systemd's user bus).
async fn connect() -> Result<zbus::Connection, Failure> {
    let given = std::env::var("DBUS_SESSION_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.trim().is_empty());
    let address = match given {
        Some(a) => a,
        None => {
            let dir = std::env::var("XDG_RUNTIME_DIR")
                .ok()
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| format!("/run/user/{}", nix::unistd::geteuid()));
            let bus = std::path::Path::new(&dir).join("bus");
            if !bus.exists() {
                return Err(Failure::NoBus("DBUS_SESSION_BUS_ADDRESS is not set".into()));
            }
            format!("unix:path={}", bus.display())
        }
    };
    let cannot = |why: String| Failure::NoBus(format!("cannot connect to {address}: {why}"));
    let builder =
        zbus::connection::Builder::address(address.as_str()).map_err(|e| cannot(describe(&e)))?;
    builder.build().await.map_err(|e| cannot(describe(&e)))
}

/// A zbus error in words: an I/O error as the OS says it.
fn describe(e: &zbus::Error) -> String {
    match e {
        // zbus's own text repeats the address; the OS's says why.
        zbus::Error::InputOutput(io) | zbus::Error::Connection(io, _) => match io.raw_os_error() {
            Some(code) => std::io::Error::from_raw_os_error(code).to_string(),
            None => io.to_string(),
        },
        zbus::Error::Address(a) => format!("not a D-Bus address ({a})"),
        e => e.to_string(),
    }
}

/// Opening a session fails first when nothing provides the service.
fn opening(e: SsError) -> Failure {
    let unknown = match &e {
        SsError::Unavailable => true,
        SsError::ZbusFdo(zbus::fdo::Error::ServiceUnknown(_)) => true,
        SsError::Zbus(zbus::Error::FDO(f)) => {
            matches!(**f, zbus::fdo::Error::ServiceUnknown(_))
        }
        SsError::Zbus(zbus::Error::MethodError(name, _, _)) => {
            name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown"
        }
        _ => false,
    };
    if unknown {
        Failure::NoService
    } else {
        other(e)
    }
}

fn locked(e: SsError) -> Failure {
    Failure::Locked(match e {
        SsError::Prompt => "unlocking it was dismissed".into(),
        SsError::PromptDisconnected => "the Secret Service went away while unlocking it".into(),
        e => format!("unlocking it failed: {e}"),
    })
}

fn other(e: SsError) -> Failure {
    match e {
        SsError::Locked => Failure::Locked("the Secret Service refused to read it".into()),
        e => Failure::Service(e.to_string()),
    }
}
