//! EC2 inventory lookups against moto's real EC2 API server on 127.0.0.1.

use crate::support::moto::Moto;
use indexmap::IndexMap;
use runbook::exec::inventory::Ec2Resolver;
use runbook::inventory_spec::{Ec2Spec, OneOrMany};

fn by_filters(filters: &[(&str, OneOrMany)]) -> Ec2Spec {
    Ec2Spec {
        filters: filters
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<IndexMap<_, _>>(),
        ..Default::default()
    }
}

fn one(v: &str) -> OneOrMany {
    OneOrMany::One(v.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn instance_id_and_tag_filters() {
    let Some(moto) = Moto::start() else { return };
    let subnet = moto.subnet("127.0.0.0").await;
    let db = moto
        .run_instance(
            &subnet,
            "127.0.0.1",
            &[("role", "db"), ("service", "my_service"), ("Name", "db-1")],
            false,
        )
        .await;
    let mut web = Vec::new();
    for ip in ["127.0.0.4", "127.0.0.5", "127.0.0.6"] {
        web.push(
            moto.run_instance(
                &subnet,
                ip,
                &[("role", "web"), ("service", "my_service")],
                false,
            )
            .await,
        );
    }
    let resolver = moto.resolver();

    // By instance id.
    let spec = Ec2Spec {
        instance_id: Some(db.instance_id.clone()),
        ..Default::default()
    };
    assert_eq!(
        resolver.resolve_async("db", &spec).await,
        Ok(vec!["127.0.0.1".to_string()])
    );
    let described = resolver.describe("db", &spec).await.unwrap();
    assert_eq!(described, vec![db.clone()]);
    assert_eq!(described[0].name.as_deref(), Some("db-1"));

    // A tag filter with several matches: sorted by instance id.
    web.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    let expected: Vec<String> = web.iter().filter_map(|i| i.private_ip.clone()).collect();
    assert_eq!(expected.len(), 3);
    let spec = by_filters(&[("tag:role", one("web"))]);
    assert_eq!(
        resolver.resolve_async("web", &spec).await,
        Ok(expected.clone())
    );
    let ids: Vec<String> = resolver
        .describe("web", &spec)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.instance_id)
        .collect();
    assert_eq!(
        ids,
        web.iter()
            .map(|i| i.instance_id.clone())
            .collect::<Vec<_>>()
    );

    // Several filters are ANDed; several values of one filter are ORed.
    let spec = by_filters(&[
        ("tag:service", one("my_service")),
        (
            "private-ip-address",
            OneOrMany::Many(vec!["127.0.0.1".into(), "127.0.0.5".into()]),
        ),
    ]);
    let mut got = resolver.resolve_async("pair", &spec).await.unwrap();
    got.sort();
    assert_eq!(got, vec!["127.0.0.1", "127.0.0.5"]);

    // The trait method, on the caller's (multi-thread) runtime.
    let spec = by_filters(&[("tag:role", one("web"))]);
    assert_eq!(resolver.resolve("web", &spec).await, Ok(expected));

    // Stopped instances do not count.
    moto.stop(&web[0].instance_id).await;
    let spec = by_filters(&[("tag:role", one("web"))]);
    assert_eq!(
        resolver.resolve_async("web", &spec).await.map(|v| v.len()),
        Ok(2)
    );
    let spec = Ec2Spec {
        instance_id: Some(web[0].instance_id.clone()),
        ..Default::default()
    };
    assert_eq!(
        resolver.resolve_async("stopped", &spec).await,
        Err(format!(
            "host `stopped`: no running EC2 instance matches instance id {}",
            web[0].instance_id
        ))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_match_errors_name_host_and_lookup() {
    let Some(moto) = Moto::start() else { return };
    let subnet = moto.subnet("127.0.0.0").await;
    moto.run_instance(&subnet, "127.0.0.4", &[("role", "web")], false)
        .await;
    let resolver = moto.resolver();
    assert_eq!(
        resolver
            .resolve_async("web", &by_filters(&[("tag:role", one("nope"))]))
            .await,
        Err("host `web`: no running EC2 instance matches filters tag:role=nope".to_string())
    );
    assert_eq!(
        resolver
            .resolve_async(
                "web",
                &by_filters(&[
                    ("tag:role", one("web")),
                    (
                        "tag:env",
                        OneOrMany::Many(vec!["prod".into(), "staging".into()])
                    )
                ])
            )
            .await,
        Err(
            "host `web`: no running EC2 instance matches filters tag:role=web, tag:env=prod|staging"
                .to_string()
        )
    );
    // `region:` on the entry is where the lookup happens.
    let mut spec = by_filters(&[("tag:role", one("web"))]);
    assert_eq!(
        resolver.resolve_async("web", &spec).await,
        Ok(vec!["127.0.0.4".to_string()])
    );
    spec.region = Some("eu-west-1".into());
    assert_eq!(
        resolver.resolve_async("web", &spec).await,
        Err(
            "host `web`: no running EC2 instance in eu-west-1 matches filters tag:role=web"
                .to_string()
        )
    );
    let spec = Ec2Spec {
        instance_id: Some("i-0123456789abcdef0".into()),
        ..Default::default()
    };
    assert_eq!(
        resolver.resolve_async("object4", &spec).await,
        Err(
            "host `object4`: no running EC2 instance matches instance id i-0123456789abcdef0"
                .to_string()
        )
    );
    assert_eq!(
        resolver.resolve_async("empty", &Ec2Spec::default()).await,
        Err("host `empty`: an ec2 entry needs `instance_id` or `filters`".to_string())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn public_ip() {
    let Some(moto) = Moto::start() else { return };
    let subnet = moto.subnet("127.0.0.0").await;
    let public = moto
        .run_instance(&subnet, "127.0.0.7", &[("role", "edge")], true)
        .await;
    let private = moto
        .run_instance(&subnet, "127.0.0.8", &[("role", "internal")], false)
        .await;
    let public_ip = public.public_ip.clone().expect("moto assigned a public IP");
    assert_eq!(private.public_ip, None);
    let resolver = moto.resolver();

    let mut spec = by_filters(&[("tag:role", one("edge"))]);
    assert_eq!(
        resolver.resolve_async("edge", &spec).await,
        Ok(vec!["127.0.0.7".to_string()])
    );
    spec.public_ip = true;
    assert_eq!(
        resolver.resolve_async("edge", &spec).await,
        Ok(vec![public_ip])
    );

    let mut spec = by_filters(&[("tag:role", one("internal"))]);
    spec.public_ip = true;
    assert_eq!(
        resolver.resolve_async("internal", &spec).await,
        Err(format!(
            "host `internal`: EC2 instance {} has no public IP address",
            private.instance_id
        ))
    );
}

/// Through the trait object, on a current-thread runtime: the lookup runs
/// on the caller's runtime, whatever its flavour.
#[test]
fn trait_object_resolves_on_a_current_thread_runtime() {
    let Some(moto) = Moto::start() else { return };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let subnet = rt.block_on(moto.subnet("127.0.0.0"));
    let db = rt.block_on(moto.run_instance(&subnet, "127.0.0.1", &[("role", "db")], false));
    let resolver: Box<dyn Ec2Resolver> = Box::new(moto.resolver());
    let spec = Ec2Spec {
        instance_id: Some(db.instance_id.clone()),
        ..Default::default()
    };
    let got = rt.block_on(resolver.resolve("db", &spec));
    assert_eq!(got, Ok(vec!["127.0.0.1".to_string()]));
}
