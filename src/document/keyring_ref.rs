//! `keyring:` in a secret declaration: which item of the OS keyring holds
//! the value. Written `service/name`, split at the first `/` (so a name may
//! hold slashes: `vault/db/admin` is service `vault`, name `db/admin`), or
//! as a map `{service: S, name: N}` for a service that itself holds a `/`
//! (a URL). Only the shape is read here: `analyze` refuses an empty part
//! with its position, `secrets::keyring` reads the item.

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// One keyring item: the Secret Service attributes `service` and
/// `username` (what `secret-tool store … service S username N`, Python's
/// `keyring` and keyring-rs write).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyringRef {
    pub service: String,
    pub name: String,
    /// The `service/name` text as written; `None` for the map form.
    pub written: Option<String>,
}

impl KeyringRef {
    /// `service/name` split at the first `/`; without one it is all
    /// service and [`KeyringRef::missing_separator`] says so.
    pub fn parse(text: &str) -> Self {
        let (service, name) = text.split_once('/').unwrap_or((text, ""));
        KeyringRef {
            service: service.to_string(),
            name: name.to_string(),
            written: Some(text.to_string()),
        }
    }

    /// The string form without any `/`.
    pub fn missing_separator(&self) -> bool {
        self.written.as_deref().is_some_and(|w| !w.contains('/'))
    }
}

impl fmt::Display for KeyringRef {
    /// `service/name`, as the operator would write it (messages only).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.written {
            Some(w) => f.write_str(w),
            None => write!(f, "{}/{}", self.service, self.name),
        }
    }
}

impl Serialize for KeyringRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match &self.written {
            Some(w) => s.serialize_str(w),
            None => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("service", &self.service)?;
                m.serialize_entry("name", &self.name)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for KeyringRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RefVisitor)
    }
}

struct RefVisitor;

impl<'de> Visitor<'de> for RefVisitor {
    type Value = KeyringRef;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`service/name` or a map with `service` and `name`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyringRef, E> {
        Ok(KeyringRef::parse(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyringRef, A::Error> {
        let mut out = KeyringRef::default();
        while let Some(key) = map.next_key::<String>()? {
            let slot = match key.as_str() {
                "service" => &mut out.service,
                "name" => &mut out.name,
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown key `{other}` in `keyring:` (expected `service` and `name`)"
                    )));
                }
            };
            *slot = map.next_value::<String>()?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_first_slash() {
        let r = KeyringRef::parse("vault/db/admin");
        assert_eq!((r.service.as_str(), r.name.as_str()), ("vault", "db/admin"));
        assert!(!r.missing_separator());
        let r = KeyringRef::parse("just-a-service");
        assert_eq!(
            (r.service.as_str(), r.name.as_str()),
            ("just-a-service", "")
        );
        assert!(r.missing_separator());
        let r = KeyringRef::parse("/name");
        assert_eq!((r.service.as_str(), r.name.as_str()), ("", "name"));
    }

    #[test]
    fn reads_both_forms_and_refuses_others() {
        let s: KeyringRef = serde_saphyr::from_str("\"S/U\"").expect("string form");
        assert_eq!((s.service.as_str(), s.name.as_str()), ("S", "U"));
        let m: KeyringRef =
            serde_saphyr::from_str("{service: \"https://x/y\", name: bob}").expect("map form");
        assert_eq!(m.to_string(), "https://x/y/bob");
        assert_eq!(m.written, None);
        let e =
            serde_saphyr::from_str::<KeyringRef>("{service: a, user: b}").expect_err("unknown key");
        assert!(
            e.to_string().contains("unknown key `user` in `keyring:`"),
            "{e}"
        );
        let e = serde_saphyr::from_str::<KeyringRef>("[a, b]").expect_err("a list");
        assert!(e.to_string().contains("`service/name` or a map"), "{e}");
    }
}
