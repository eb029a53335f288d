//! The inventory: turns a host name from the front matter into addresses.
//! (The inventory helper owns this module; only the EC2 resolver trait the
//! EC2 lookup implements is defined here.)

use crate::document::frontmatter::Ec2Spec;

/// Looks up the addresses of an `ec2:` inventory entry.
pub trait Ec2Resolver {
    fn resolve(&self, name: &str, spec: &Ec2Spec) -> Result<Vec<String>, String>;
}
