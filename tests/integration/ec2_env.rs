//! The default resolver takes its endpoint, region and credentials from the
//! standard AWS environment variables (`AWS_ENDPOINT_URL` is read by
//! aws-config itself). The test sets process environment variables, which
//! must not race with other tests: it re-runs itself, alone, in a child
//! process of the test binary, and the body runs there.

use crate::support::moto::Moto;
use runbook::exec::ec2::AwsEc2Resolver;
use runbook::exec::inventory::Ec2Resolver;
use runbook::inventory_spec::Ec2Spec;

/// Set in the child process that runs the body.
const CHILD: &str = "RUNBOOK_TEST_EC2_ENV_CHILD";

#[test]
fn endpoint_region_and_credentials_from_the_environment() {
    if std::env::var_os(CHILD).is_none() {
        run_alone_in_a_child("endpoint_region_and_credentials_from_the_environment");
        return;
    }
    let Some(moto) = Moto::start() else { return };
    // SAFETY: the only test running in this (child) process, before any
    // thread reads the environment.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", moto.url());
        // Never ask the instance metadata service (not a loopback address).
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::remove_var("AWS_REGION");
        std::env::remove_var("AWS_DEFAULT_REGION");
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::remove_var("AWS_PROFILE");
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/runbook-test");
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/runbook-test");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let spec = Ec2Spec {
        instance_id: Some("i-0123456789abcdef0".into()),
        ..Default::default()
    };
    assert_eq!(
        rt.block_on(AwsEc2Resolver::default().resolve("db", &spec)),
        Err(
            "host `db`: no AWS region configured (set AWS_REGION or `region:` on the host)"
                .to_string()
        )
    );
    // SAFETY: as above; the lookup that read the environment has finished.
    unsafe {
        std::env::set_var("AWS_REGION", crate::support::moto::REGION);
    }
    let subnet = rt.block_on(moto.subnet("127.0.0.0"));
    let db = rt.block_on(moto.run_instance(&subnet, "127.0.0.1", &[("role", "db")], false));
    let spec = Ec2Spec {
        instance_id: Some(db.instance_id),
        ..Default::default()
    };
    let got = rt.block_on(AwsEc2Resolver::default().resolve("db", &spec));
    assert_eq!(got, Ok(vec!["127.0.0.1".to_string()]));
}

/// Runs the test `name` of this module in a new process of this test
/// binary, alone, and fails if it fails.
fn run_alone_in_a_child(name: &str) {
    let module = module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, m)| m);
    let test = format!("{module}::{name}");
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([test.as_str(), "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{test} failed in its own process ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("1 passed"),
        "{test} did not run in its own process\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    eprint!("{stderr}");
}
