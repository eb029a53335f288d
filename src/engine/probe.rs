//! Preconditions as a run evaluates them: `requires.hosts` entries that name
//! inventory entries are resolved first (groups, lists, EC2), and the
//! inventory itself is rendered against the run so far.

use super::Engine;
use super::context::Context;
use crate::document::Document;
use crate::document::Requires;
use crate::exec::inventory::Ec2Resolver;
use crate::inventory_spec::HostSpec;
use crate::record::PreconditionResult;
use crate::template::Escape;
use crate::template::Templates;
use indexmap::IndexMap;

/// Evaluates `requires:` with templates rendered by `render`.
pub async fn evaluate(
    requires: &Requires,
    hosts: &IndexMap<String, HostSpec>,
    render: &(dyn Fn(&str) -> Result<String, String> + Sync),
    ec2: &dyn Ec2Resolver,
) -> Vec<PreconditionResult> {
    let probe = InventoryProbe::new(&requires.hosts, hosts, ec2).await;
    crate::preconditions::evaluate(requires, render, &probe).await
}

impl Engine {
    pub(super) fn rendered_hosts(&self) -> IndexMap<String, HostSpec> {
        rendered_hosts(&self.doc, &self.ctx, &self.templates)
    }

    /// The inventory rendered against `value` (a dry run's placeholders).
    pub(super) fn rendered_hosts_with(
        &self,
        value: &minijinja::Value,
    ) -> IndexMap<String, HostSpec> {
        render_hosts(&self.doc, &self.templates, value)
    }
}

/// The inventory with templates rendered against the run so far, so an
/// entry can depend on an earlier step (e.g. an EC2 filter on the address
/// a query step found). Entries that cannot render yet stay as written.
pub fn rendered_hosts(
    doc: &Document,
    ctx: &Context,
    templates: &Templates,
) -> IndexMap<String, HostSpec> {
    render_hosts(doc, templates, &ctx.value(true, None))
}

/// Renders every template string inside a JSON value, in place.
fn walk(v: &mut serde_json::Value, f: &dyn Fn(&str) -> Option<String>) {
    match v {
        serde_json::Value::String(s) if s.contains("{{") => {
            if let Some(r) = f(s) {
                *s = r;
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(x, f)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| walk(x, f)),
        _ => {}
    }
}

pub(super) fn render_hosts(
    doc: &Document,
    templates: &Templates,
    value: &minijinja::Value,
) -> IndexMap<String, HostSpec> {
    let render = |s: &str| templates.render(s, Escape::None, value).ok();
    doc.front
        .hosts
        .iter()
        .map(|(name, spec)| {
            let rendered = serde_json::to_value(spec).ok().and_then(|mut v| {
                walk(&mut v, &render);
                serde_json::from_value(v).ok()
            });
            (name.clone(), rendered.unwrap_or_else(|| spec.clone()))
        })
        .collect()
}

/// `requires.hosts` entries that name inventory entries are resolved
/// (groups, lists and EC2 lookups included) and every resolved address must
/// accept TCP connections on its SSH port; other entries are probed as
/// written (`[user@]host[:port]`).
struct InventoryProbe {
    tcp: crate::preconditions::TcpProbe,
    resolved: IndexMap<String, std::result::Result<Vec<String>, String>>,
}

impl InventoryProbe {
    async fn new(
        names: &[String],
        hosts: &IndexMap<String, HostSpec>,
        ec2: &dyn Ec2Resolver,
    ) -> Self {
        let mut resolved = IndexMap::new();
        for n in names.iter().filter(|n| hosts.contains_key(n.as_str())) {
            let r = crate::exec::inventory::resolve(n, hosts, ec2)
                .await
                .map(|targets| {
                    targets
                        .iter()
                        .map(|t| format!("{}:{}", t.host, t.port.unwrap_or(22)))
                        .collect()
                });
            resolved.insert(n.clone(), r);
        }
        InventoryProbe {
            tcp: crate::preconditions::TcpProbe::default(),
            resolved,
        }
    }
}

impl crate::preconditions::HostProbe for InventoryProbe {
    fn probe<'a>(&'a self, host: &'a str) -> crate::preconditions::ProbeFuture<'a> {
        Box::pin(async move {
            match self.resolved.get(host) {
                None => self.tcp.probe(host).await,
                Some(Err(e)) => Err(e.clone()),
                Some(Ok(addresses)) => {
                    let mut ok = Vec::new();
                    for a in addresses {
                        ok.push(self.tcp.probe(a).await?);
                    }
                    Ok(ok.join("; "))
                }
            }
        })
    }
}

#[cfg(feature = "ec2")]
pub fn ec2_resolver() -> Box<dyn Ec2Resolver> {
    Box::new(crate::exec::ec2::AwsEc2Resolver::new())
}

#[cfg(not(feature = "ec2"))]
pub fn ec2_resolver() -> Box<dyn Ec2Resolver> {
    Box::new(crate::exec::inventory::NoEc2)
}
