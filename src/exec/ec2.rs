//! EC2 inventory: turns an `ec2:` host entry (`instance_id` or `filters`)
//! into the addresses of its running instances with DescribeInstances.
//!
//! Configuration is the AWS SDK's own: the standard credential chain
//! (environment, profile, SSO, IMDS...), the region from `AWS_REGION` /
//! the profile (or `region:` on the entry), and `AWS_ENDPOINT_URL` /
//! `AWS_ENDPOINT_URL_EC2`, which aws-config reads natively — that is how the
//! tests point it at moto on 127.0.0.1.
//!
//! The lookup is async all the way: [`Ec2Resolver::resolve`] returns the
//! SDK's future, which runs on the caller's runtime (the runner's), so a
//! slow DescribeInstances never blocks a worker thread.

use crate::exec::inventory::{Ec2Future, Ec2Resolver};
use crate::inventory_spec::{Ec2Spec, OneOrMany};
use aws_sdk_ec2::config::{Credentials, Region};
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_ec2::types::{Filter, InstanceStateName};

/// One instance found by a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Instance {
    pub instance_id: String,
    pub private_ip: Option<String>,
    pub public_ip: Option<String>,
    /// The `Name` tag, when set.
    pub name: Option<String>,
}

/// Resolves `ec2:` host entries through aws-sdk-ec2.
///
/// `AwsEc2Resolver::default()` uses the SDK's standard configuration; the
/// builder methods override parts of it (tests and embedders). The
/// configuration (credential chain, region, endpoint) is loaded on the
/// first lookup and kept for the later ones: a run builds one resolver.
#[derive(Debug, Clone, Default)]
pub struct AwsEc2Resolver {
    endpoint_url: Option<String>,
    region: Option<String>,
    credentials: Option<(String, String)>,
    config: tokio::sync::OnceCell<aws_config::SdkConfig>,
}

impl AwsEc2Resolver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends requests to this endpoint instead of the configured one.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Region used when the entry has no `region:`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Static credentials instead of the credential chain.
    pub fn static_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.credentials = Some((access_key_id.into(), secret_access_key.into()));
        self
    }

    async fn client(&self, spec: &Ec2Spec) -> aws_sdk_ec2::Client {
        let shared = self
            .config
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
                if let Some(url) = &self.endpoint_url {
                    loader = loader.endpoint_url(url.clone());
                }
                if let Some(region) = &self.region {
                    loader = loader.region(Region::new(region.clone()));
                }
                if let Some((id, secret)) = &self.credentials {
                    loader = loader
                        .credentials_provider(Credentials::new(id, secret, None, None, "runbook"));
                }
                loader.load().await
            })
            .await;
        let mut config = aws_sdk_ec2::config::Builder::from(shared);
        if let Some(region) = &spec.region {
            config = config.region(Region::new(region.clone()));
        }
        aws_sdk_ec2::Client::from_conf(config.build())
    }

    /// The running instances an entry stands for, sorted by instance id.
    /// An empty result is an error that names the host and the lookup.
    pub async fn describe(&self, name: &str, spec: &Ec2Spec) -> Result<Vec<Ec2Instance>, String> {
        if spec.instance_id.is_none() && spec.filters.is_empty() {
            return Err(format!(
                "host `{name}`: an ec2 entry needs `instance_id` or `filters`"
            ));
        }
        let client = self.client(spec).await;
        if client.config().region().is_none() {
            return Err(format!(
                "host `{name}`: no AWS region configured (set AWS_REGION or `region:` on the host)"
            ));
        }
        let mut request = client.describe_instances();
        if let Some(id) = &spec.instance_id {
            request = request.instance_ids(id);
        }
        for (key, values) in &spec.filters {
            request = request.filters(
                Filter::builder()
                    .name(key)
                    .set_values(Some(values.to_vec()))
                    .build(),
            );
        }
        if !spec.filters.contains_key("instance-state-name") {
            request = request.filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("running")
                    .build(),
            );
        }
        let mut pages = request.into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(e) if e.code() == Some("InvalidInstanceID.NotFound") => break,
                Err(e) if e.code() == Some("InvalidInstanceID.Malformed") => {
                    return Err(format!(
                        "host `{name}`: `{}` is not an EC2 instance id",
                        spec.instance_id.as_deref().unwrap_or_default()
                    ));
                }
                Err(e) => {
                    return Err(format!(
                        "host `{name}`: DescribeInstances failed: {}",
                        DisplayErrorContext(&e)
                    ));
                }
            };
            for instance in page.reservations().iter().flat_map(|r| r.instances()) {
                let running =
                    instance.state().and_then(|s| s.name()) == Some(&InstanceStateName::Running);
                if !running {
                    continue;
                }
                found.push(Ec2Instance {
                    instance_id: instance.instance_id().unwrap_or_default().to_string(),
                    private_ip: instance.private_ip_address().map(str::to_string),
                    public_ip: instance.public_ip_address().map(str::to_string),
                    name: instance
                        .tags()
                        .iter()
                        .find(|t| t.key() == Some("Name"))
                        .and_then(|t| t.value())
                        .map(str::to_string),
                });
            }
        }
        if found.is_empty() {
            let region = spec
                .region
                .as_ref()
                .map(|r| format!(" in {r}"))
                .unwrap_or_default();
            return Err(format!(
                "host `{name}`: no running EC2 instance{region} matches {}",
                describe_lookup(spec)
            ));
        }
        found.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        found.dedup_by(|a, b| a.instance_id == b.instance_id);
        Ok(found)
    }

    /// The addresses of the running instances: private IPs, or public ones
    /// with `public_ip: true`.
    pub async fn resolve_async(&self, name: &str, spec: &Ec2Spec) -> Result<Vec<String>, String> {
        let instances = self.describe(name, spec).await?;
        instances
            .iter()
            .map(|i| {
                let (ip, which) = if spec.public_ip {
                    (&i.public_ip, "public")
                } else {
                    (&i.private_ip, "private")
                };
                ip.clone().ok_or_else(|| {
                    format!(
                        "host `{name}`: EC2 instance {} has no {which} IP address",
                        i.instance_id
                    )
                })
            })
            .collect()
    }
}

/// `instance id i-0abc`, `filters tag:role=web, tag:env=prod|staging`.
fn describe_lookup(spec: &Ec2Spec) -> String {
    let mut parts = Vec::new();
    if let Some(id) = &spec.instance_id {
        parts.push(format!("instance id {id}"));
    }
    if !spec.filters.is_empty() {
        let filters: Vec<String> = spec
            .filters
            .iter()
            .map(|(k, v)| match v {
                OneOrMany::One(s) => format!("{k}={s}"),
                OneOrMany::Many(vs) => format!("{k}={}", vs.join("|")),
            })
            .collect();
        parts.push(format!("filters {}", filters.join(", ")));
    }
    parts.join(" and ")
}

impl Ec2Resolver for AwsEc2Resolver {
    fn resolve<'a>(&'a self, name: &'a str, spec: &'a Ec2Spec) -> Ec2Future<'a> {
        Box::pin(self.resolve_async(name, spec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_descriptions() {
        let mut spec = Ec2Spec::default();
        spec.filters
            .insert("tag:role".into(), OneOrMany::One("web".into()));
        spec.filters.insert(
            "tag:env".into(),
            OneOrMany::Many(vec!["prod".into(), "staging".into()]),
        );
        assert_eq!(
            describe_lookup(&spec),
            "filters tag:role=web, tag:env=prod|staging"
        );
        spec.instance_id = Some("i-0abc".into());
        assert_eq!(
            describe_lookup(&spec),
            "instance id i-0abc and filters tag:role=web, tag:env=prod|staging"
        );
    }
}
