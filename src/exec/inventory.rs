//! The inventory: turns a step's `host=`/`hosts=` value into concrete SSH
//! targets. Front matter `hosts:` entries are single addresses, lists of
//! addresses (fan-out), EC2 lookups, or groups of other entries; a literal
//! `user@host[:port]` works without any inventory. This module only
//! resolves names; connecting is `exec::ssh`.

use crate::duration::parse_duration;
use crate::inventory_spec::{Ec2Spec, HostSpec, OneOrMany};
use indexmap::IndexMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

/// Connect timeout when the inventory does not set one.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the SSH client treats the server's host key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyChecking {
    /// Not set in the inventory: no `StrictHostKeyChecking` is passed, so
    /// the user's ssh_config decides, else OpenSSH's own default (strict
    /// under `BatchMode`).
    #[default]
    Default,
    /// The key must already be in known_hosts (`StrictHostKeyChecking=yes`).
    Strict,
    /// Unknown keys are added, changed keys are refused (`accept-new`).
    AcceptNew,
    /// Any key is accepted (`StrictHostKeyChecking=no`).
    No,
}

impl HostKeyChecking {
    /// Parses the front matter spelling: `strict`, `accept-new` or `no`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "strict" | "yes" => Ok(HostKeyChecking::Strict),
            "accept-new" => Ok(HostKeyChecking::AcceptNew),
            "no" | "off" => Ok(HostKeyChecking::No),
            other => Err(format!(
                "host_key_checking must be `strict`, `accept-new` or `no`, not `{other}`"
            )),
        }
    }
}

/// One machine to run a step on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct SshTarget {
    /// The inventory name, `name[i]` for entries that stand for several
    /// machines, or the literal address.
    pub label: String,
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub identity_file: Option<PathBuf>,
    pub jump: Option<String>,
    pub host_key_checking: HostKeyChecking,
    pub connect_timeout: Duration,
}

impl SshTarget {
    /// A target for `user@host[:port]` with default settings, labelled by
    /// the address itself.
    pub fn parse_literal(address: &str) -> Result<Self, String> {
        let (user, host, port) = parse_address(address)?;
        Ok(SshTarget {
            label: address.to_string(),
            user,
            host,
            port,
            identity_file: None,
            jump: None,
            host_key_checking: HostKeyChecking::Default,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        })
    }

    /// `user@host:port` with the parts that are set, for messages.
    pub fn address(&self) -> String {
        let mut s = String::new();
        if let Some(user) = &self.user {
            s.push_str(user);
            s.push('@');
        }
        if self.host.contains(':') {
            s.push('[');
            s.push_str(&self.host);
            s.push(']');
        } else {
            s.push_str(&self.host);
        }
        if let Some(port) = self.port {
            s.push(':');
            s.push_str(&port.to_string());
        }
        s
    }

    /// `label (address)`, or just the address when the label is the address.
    pub fn display_name(&self) -> String {
        let address = self.address();
        if self.label == address {
            address
        } else {
            format!("{} ({address})", self.label)
        }
    }
}

/// What an [`Ec2Resolver`] hands back: the addresses, or why not.
pub type Ec2Future<'a> = Pin<Box<dyn Future<Output = Result<Vec<String>, String>> + Send + 'a>>;

/// Looks up EC2 instances for an inventory entry. The real implementation
/// lives in `exec::ec2` behind the `ec2` feature. Async (a boxed future, so
/// it stays usable as a trait object): the lookup runs on the caller's
/// runtime. A run builds one resolver and uses it for every step.
pub trait Ec2Resolver: Send + Sync {
    /// The addresses (IP or DNS name) of the matching instances.
    fn resolve<'a>(&'a self, name: &'a str, spec: &'a Ec2Spec) -> Ec2Future<'a>;
}

/// The resolver used when the `ec2` feature is off.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEc2;

impl Ec2Resolver for NoEc2 {
    fn resolve<'a>(&'a self, _name: &'a str, _spec: &'a Ec2Spec) -> Ec2Future<'a> {
        Box::pin(std::future::ready(Err(
            "EC2 support is not compiled in".to_string()
        )))
    }
}

/// Resolves `name` (an inventory entry, or a literal `user@host[:port]`)
/// into targets, in inventory order. `all`, unless the inventory defines
/// an entry of that name, stands for every entry (each machine once).
pub async fn resolve(
    name: &str,
    hosts: &IndexMap<String, HostSpec>,
    ec2: &dyn Ec2Resolver,
) -> Result<Vec<SshTarget>, String> {
    let mut out = Vec::new();
    if name == "all" && !hosts.contains_key("all") {
        if hosts.is_empty() {
            return Err("`all` hosts: the front matter defines no hosts".to_string());
        }
        for entry in hosts.keys() {
            expand(entry, hosts, ec2, &mut Vec::new(), &mut out).await?;
        }
    } else {
        expand(name, hosts, ec2, &mut Vec::new(), &mut out).await?;
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|t| seen.insert(t.clone()));
    Ok(out)
}

type Expansion<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Boxed: groups expand their members recursively.
fn expand<'a>(
    name: &'a str,
    hosts: &'a IndexMap<String, HostSpec>,
    ec2: &'a dyn Ec2Resolver,
    stack: &'a mut Vec<String>,
    out: &'a mut Vec<SshTarget>,
) -> Expansion<'a> {
    Box::pin(expand_entry(name, hosts, ec2, stack, out))
}

async fn expand_entry(
    name: &str,
    hosts: &IndexMap<String, HostSpec>,
    ec2: &dyn Ec2Resolver,
    stack: &mut Vec<String>,
    out: &mut Vec<SshTarget>,
) -> Result<(), String> {
    let Some(spec) = hosts.get(name) else {
        if name.contains('@') {
            let target =
                SshTarget::parse_literal(name).map_err(|e| format!("host `{name}`: {e}"))?;
            out.push(target);
            return Ok(());
        }
        return Err(match stack.last() {
            Some(group) => format!(
                "host `{group}`: group member `{name}` is not defined in the front matter hosts"
            ),
            None => format!(
                "unknown host `{name}`: not defined in the front matter hosts and not a user@host[:port] address"
            ),
        });
    };
    if let Some(pos) = stack.iter().position(|n| n == name) {
        let mut cycle: Vec<&str> = stack[pos..].iter().map(String::as_str).collect();
        cycle.push(name);
        return Err(format!("host groups form a cycle: {}", cycle.join(" -> ")));
    }

    let kinds = [
        spec.ssh.is_some().then_some("ssh"),
        spec.ec2.is_some().then_some("ec2"),
        spec.group.is_some().then_some("group"),
    ];
    let kinds: Vec<&str> = kinds.into_iter().flatten().collect();
    match kinds.as_slice() {
        [] => {
            return Err(format!(
                "host `{name}`: needs one of `ssh`, `ec2` or `group`"
            ));
        }
        [_] => {}
        many => {
            return Err(format!(
                "host `{name}`: `{}` cannot be combined; use one",
                many.join("` and `")
            ));
        }
    }

    if let Some(members) = &spec.group {
        let settings = [
            spec.user.is_some().then_some("user"),
            spec.port.is_some().then_some("port"),
            spec.identity_file.is_some().then_some("identity_file"),
            spec.jump.is_some().then_some("jump"),
            spec.host_key_checking
                .is_some()
                .then_some("host_key_checking"),
            spec.connect_timeout.is_some().then_some("connect_timeout"),
        ];
        if let Some(key) = settings.into_iter().flatten().next() {
            return Err(format!(
                "host `{name}`: a group takes no connection settings (`{key}`); set it on the members"
            ));
        }
        if members.is_empty() {
            return Err(format!("host `{name}`: the group is empty"));
        }
        stack.push(name.to_string());
        for member in members {
            expand(member, hosts, ec2, stack, out).await?;
        }
        stack.pop();
        return Ok(());
    }

    let settings = Settings::from_spec(name, spec)?;
    if let Some(ssh) = &spec.ssh {
        match ssh {
            OneOrMany::One(address) => out.push(settings.target(name.to_string(), address)?),
            OneOrMany::Many(addresses) => {
                if addresses.is_empty() {
                    return Err(format!("host `{name}`: the `ssh` list is empty"));
                }
                for (i, address) in addresses.iter().enumerate() {
                    out.push(settings.target(format!("{name}[{i}]"), address)?);
                }
            }
        }
    } else if let Some(ec2_spec) = &spec.ec2 {
        let addresses = ec2
            .resolve(name, ec2_spec)
            .await
            .map_err(|e| format!("host `{name}`: {e}"))?;
        if addresses.is_empty() {
            return Err(format!(
                "host `{name}`: the EC2 lookup matched no instances"
            ));
        }
        let single = ec2_spec.instance_id.is_some() && addresses.len() == 1;
        for (i, address) in addresses.iter().enumerate() {
            let label = if single {
                name.to_string()
            } else {
                format!("{name}[{i}]")
            };
            out.push(settings.target(label, address)?);
        }
    }
    Ok(())
}

/// The connection settings of one inventory entry, validated.
struct Settings<'a> {
    name: &'a str,
    spec: &'a HostSpec,
    host_key_checking: HostKeyChecking,
    connect_timeout: Duration,
}

impl<'a> Settings<'a> {
    fn from_spec(name: &'a str, spec: &'a HostSpec) -> Result<Self, String> {
        let host_key_checking = match &spec.host_key_checking {
            Some(s) => HostKeyChecking::parse(s).map_err(|e| format!("host `{name}`: {e}"))?,
            None => HostKeyChecking::Default,
        };
        let connect_timeout = match &spec.connect_timeout {
            Some(s) => {
                let d = parse_duration(s)
                    .map_err(|e| format!("host `{name}`: connect_timeout: {e}"))?;
                if d < Duration::from_secs(1) {
                    return Err(format!(
                        "host `{name}`: connect_timeout must be at least 1s (ssh counts whole seconds)"
                    ));
                }
                d
            }
            None => DEFAULT_CONNECT_TIMEOUT,
        };
        Ok(Settings {
            name,
            spec,
            host_key_checking,
            connect_timeout,
        })
    }

    /// A target for one address; the address's own user and port win over
    /// the entry's `user:` and `port:`.
    fn target(&self, label: String, address: &str) -> Result<SshTarget, String> {
        let (user, host, port) =
            parse_address(address).map_err(|e| format!("host `{}`: {e}", self.name))?;
        Ok(SshTarget {
            label,
            user: user.or_else(|| self.spec.user.clone()),
            host,
            port: port.or(self.spec.port),
            identity_file: self.spec.identity_file.as_ref().map(PathBuf::from),
            jump: self.spec.jump.clone(),
            host_key_checking: self.host_key_checking,
            connect_timeout: self.connect_timeout,
        })
    }
}

/// Splits `user@host[:port]` (the user and port are optional; IPv6
/// addresses with a port are written `[::1]:22`).
fn parse_address(address: &str) -> Result<(Option<String>, String, Option<u16>), String> {
    let bad = |why: &str| format!("`{address}` is not a user@host[:port] address: {why}");
    let (user, rest) = match address.split_once('@') {
        Some((user, rest)) => {
            if user.is_empty() {
                return Err(bad("the user is empty"));
            }
            (Some(user.to_string()), rest)
        }
        None => (None, address),
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| bad("missing `]` after the IPv6 address"))?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(bad("unexpected text after `]`")),
            },
        }
    } else if rest.matches(':').count() > 1 {
        (rest, None)
    } else {
        match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    if host.contains('@') || host.chars().any(char::is_whitespace) || host.starts_with('-') {
        return Err(bad("invalid host name"));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(bad(&format!("invalid port `{p}`"))),
        },
    };
    Ok((user, host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Inventory {
        hosts: IndexMap<String, HostSpec>,
    }

    fn hosts(yaml: &str) -> IndexMap<String, HostSpec> {
        let inventory: Inventory = serde_saphyr::from_str(yaml).expect("valid inventory");
        inventory.hosts
    }

    struct FakeEc2(Vec<String>);
    impl Ec2Resolver for FakeEc2 {
        fn resolve<'a>(&'a self, _name: &'a str, _spec: &'a Ec2Spec) -> Ec2Future<'a> {
            Box::pin(std::future::ready(Ok(self.0.clone())))
        }
    }

    /// The resolution, on a small runtime of its own.
    fn resolve(
        name: &str,
        hosts: &IndexMap<String, HostSpec>,
        ec2: &dyn Ec2Resolver,
    ) -> Result<Vec<SshTarget>, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(super::resolve(name, hosts, ec2))
    }

    fn labels(t: &[SshTarget]) -> Vec<String> {
        t.iter()
            .map(|t| format!("{}={}", t.label, t.address()))
            .collect()
    }

    #[test]
    fn literal_addresses() {
        let h = IndexMap::new();
        let t = resolve("root@10.0.0.5:2222", &h, &NoEc2).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].user.as_deref(), Some("root"));
        assert_eq!(t[0].host, "10.0.0.5");
        assert_eq!(t[0].port, Some(2222));
        assert_eq!(t[0].host_key_checking, HostKeyChecking::Default);
        assert_eq!(t[0].connect_timeout, Duration::from_secs(10));
        let t = resolve("admin@[::1]:22", &h, &NoEc2).unwrap();
        assert_eq!(t[0].host, "::1");
        assert_eq!(t[0].address(), "admin@[::1]:22");
        assert_eq!(
            resolve("root@h:x", &h, &NoEc2).unwrap_err(),
            "host `root@h:x`: `root@h:x` is not a user@host[:port] address: invalid port `x`"
        );
        assert_eq!(
            resolve("db9", &h, &NoEc2).unwrap_err(),
            "unknown host `db9`: not defined in the front matter hosts and not a user@host[:port] address"
        );
    }

    #[test]
    fn entry_settings_and_lists() {
        let h = hosts(
            "hosts:\n  db1: { ssh: \"10.0.0.5\", user: root, port: 2200, identity_file: /k, jump: bastion, host_key_checking: accept-new, connect_timeout: 3s }\n  web: { ssh: [\"a@w1\", \"w2:22\"], user: deploy }\n",
        );
        let t = resolve("db1", &h, &NoEc2).unwrap();
        assert_eq!(labels(&t), ["db1=root@10.0.0.5:2200"]);
        assert_eq!(t[0].identity_file, Some(PathBuf::from("/k")));
        assert_eq!(t[0].jump.as_deref(), Some("bastion"));
        assert_eq!(t[0].host_key_checking, HostKeyChecking::AcceptNew);
        assert_eq!(t[0].connect_timeout, Duration::from_secs(3));
        let t = resolve("web", &h, &NoEc2).unwrap();
        assert_eq!(labels(&t), ["web[0]=a@w1", "web[1]=deploy@w2:22"]);
    }

    #[test]
    fn groups_expand_recursively_and_all_dedupes() {
        let h = hosts(
            "hosts:\n  a: { ssh: \"r@a\" }\n  b: { ssh: [\"r@b1\", \"r@b2\"] }\n  ab: { group: [a, b] }\n  top: { group: [ab, \"x@lit\"] }\n",
        );
        let t = resolve("top", &h, &NoEc2).unwrap();
        assert_eq!(
            labels(&t),
            ["a=r@a", "b[0]=r@b1", "b[1]=r@b2", "x@lit=x@lit"]
        );
        let t = resolve("all", &h, &NoEc2).unwrap();
        assert_eq!(
            labels(&t),
            ["a=r@a", "b[0]=r@b1", "b[1]=r@b2", "x@lit=x@lit"]
        );
    }

    #[test]
    fn group_errors() {
        let h = hosts(
            "hosts:\n  a: { group: [b] }\n  b: { group: [c, a] }\n  c: { ssh: \"r@c\" }\n  d: { group: [c, nope] }\n  e: { group: [c], user: root }\n  f: { ssh: \"r@f\", group: [c] }\n  g: { user: root }\n",
        );
        assert_eq!(
            resolve("a", &h, &NoEc2).unwrap_err(),
            "host groups form a cycle: a -> b -> a"
        );
        assert_eq!(
            resolve("d", &h, &NoEc2).unwrap_err(),
            "host `d`: group member `nope` is not defined in the front matter hosts"
        );
        assert_eq!(
            resolve("e", &h, &NoEc2).unwrap_err(),
            "host `e`: a group takes no connection settings (`user`); set it on the members"
        );
        assert_eq!(
            resolve("f", &h, &NoEc2).unwrap_err(),
            "host `f`: `ssh` and `group` cannot be combined; use one"
        );
        assert_eq!(
            resolve("g", &h, &NoEc2).unwrap_err(),
            "host `g`: needs one of `ssh`, `ec2` or `group`"
        );
    }

    #[test]
    fn self_cycle() {
        let h = hosts("hosts:\n  loop: { group: [loop] }\n");
        assert_eq!(
            resolve("loop", &h, &NoEc2).unwrap_err(),
            "host groups form a cycle: loop -> loop"
        );
    }

    #[test]
    fn bad_settings() {
        let h = hosts(
            "hosts:\n  a: { ssh: \"r@a\", host_key_checking: maybe }\n  b: { ssh: \"r@b\", connect_timeout: soon }\n",
        );
        assert_eq!(
            resolve("a", &h, &NoEc2).unwrap_err(),
            "host `a`: host_key_checking must be `strict`, `accept-new` or `no`, not `maybe`"
        );
        assert_eq!(
            resolve("b", &h, &NoEc2).unwrap_err(),
            "host `b`: connect_timeout: `soon` is not a duration (expected e.g. 30s, 500ms, 5m, 1h30m)"
        );
    }

    #[test]
    fn ec2_entries() {
        let h = hosts(
            "hosts:\n  one: { ec2: { instance_id: i-0abc }, user: root }\n  web: { ec2: { filters: { \"tag:role\": web } }, user: ec2-user }\n",
        );
        assert_eq!(
            resolve("one", &h, &NoEc2).unwrap_err(),
            "host `one`: EC2 support is not compiled in"
        );
        let t = resolve("one", &h, &FakeEc2(vec!["10.1.0.1".into()])).unwrap();
        assert_eq!(labels(&t), ["one=root@10.1.0.1"]);
        let t = resolve(
            "web",
            &h,
            &FakeEc2(vec!["10.1.0.1".into(), "10.1.0.2".into()]),
        )
        .unwrap();
        assert_eq!(
            labels(&t),
            ["web[0]=ec2-user@10.1.0.1", "web[1]=ec2-user@10.1.0.2"]
        );
        assert_eq!(
            resolve("web", &h, &FakeEc2(vec![])).unwrap_err(),
            "host `web`: the EC2 lookup matched no instances"
        );
    }
}
