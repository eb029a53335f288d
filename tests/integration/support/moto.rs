//! moto's EC2 API server (PyPI `moto[server]`) on 127.0.0.1, seeded through
//! the real aws-sdk-ec2 API. Instances are launched into VPC subnets inside
//! 127.0.0.0/8 so their private IPs are loopback addresses (moto accepts an
//! explicit `PrivateIpAddress`, one instance per address and subnet).
//! Public IPs, when asked for, are moto's own random ones: tests compare
//! them with what RunInstances returned and never connect to them.

use super::{free_port, http_get, require_program, wait_until};
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::types::{
    InstanceNetworkInterfaceSpecification, InstanceType, ResourceType, Tag, TagSpecification,
};
use runbook::exec::ec2::{AwsEc2Resolver, Ec2Instance};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const REGION: &str = "us-east-1";

pub struct Moto {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Moto {
    /// Starts `moto_server`. `None` when it is missing outside CI.
    pub fn start() -> Option<Moto> {
        let bin = require_program("moto_server", "pip install 'moto[server]'")?;
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("moto.log")).expect("log file");
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn moto_server");
        let mut moto = Moto {
            child,
            port,
            _dir: dir,
        };
        let ready = wait_until(Duration::from_secs(60), || {
            matches!(http_get(port, "/moto-api/"), Some((200, _)))
        });
        if !ready {
            let log =
                std::fs::read_to_string(moto._dir.path().join("moto.log")).unwrap_or_default();
            let _ = moto.child.kill();
            panic!("moto_server on 127.0.0.1:{port} did not answer within 60s; log:\n{log}");
        }
        Some(moto)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The resolver under test, pointed at this server.
    pub fn resolver(&self) -> AwsEc2Resolver {
        AwsEc2Resolver::new()
            .endpoint_url(self.url())
            .region(REGION)
            .static_credentials("test", "test")
    }

    /// An SDK client for seeding.
    pub fn client(&self) -> aws_sdk_ec2::Client {
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(self.url())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .build();
        aws_sdk_ec2::Client::from_conf(config)
    }

    /// A new VPC (`/16`) with one subnet (`/24`) inside `cidr_base`
    /// (e.g. `127.0.0.0`). Returns the subnet id.
    pub async fn subnet(&self, cidr_base: &str) -> String {
        let client = self.client();
        let vpc = client
            .create_vpc()
            .cidr_block(format!("{cidr_base}/16"))
            .send()
            .await
            .expect("CreateVpc");
        let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id");
        let subnet = client
            .create_subnet()
            .vpc_id(vpc_id)
            .cidr_block(format!("{cidr_base}/24"))
            .send()
            .await
            .expect("CreateSubnet");
        subnet
            .subnet()
            .and_then(|s| s.subnet_id())
            .expect("subnet id")
            .to_string()
    }

    /// Launches one instance in `subnet` with `private_ip` and `tags`; with
    /// `public` it also gets a public IP.
    pub async fn run_instance(
        &self,
        subnet: &str,
        private_ip: &str,
        tags: &[(&str, &str)],
        public: bool,
    ) -> Ec2Instance {
        let client = self.client();
        let images = client
            .describe_images()
            .send()
            .await
            .expect("DescribeImages");
        let image = images
            .images()
            .iter()
            .find_map(|i| i.image_id())
            .expect("moto has images")
            .to_string();
        let mut tag_spec = TagSpecification::builder().resource_type(ResourceType::Instance);
        for (k, v) in tags {
            tag_spec = tag_spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        let out = client
            .run_instances()
            .image_id(image)
            .instance_type(InstanceType::T3Micro)
            .min_count(1)
            .max_count(1)
            .network_interfaces(
                InstanceNetworkInterfaceSpecification::builder()
                    .device_index(0)
                    .subnet_id(subnet)
                    .private_ip_address(private_ip)
                    .associate_public_ip_address(public)
                    .build(),
            )
            .tag_specifications(tag_spec.build())
            .send()
            .await
            .expect("RunInstances");
        let i = out.instances().first().expect("one instance");
        Ec2Instance {
            instance_id: i.instance_id().expect("instance id").to_string(),
            private_ip: i.private_ip_address().map(str::to_string),
            public_ip: i.public_ip_address().map(str::to_string),
            name: tags
                .iter()
                .find(|(k, _)| *k == "Name")
                .map(|(_, v)| v.to_string()),
        }
    }

    /// Stops an instance (it no longer counts as running).
    pub async fn stop(&self, instance_id: &str) {
        self.client()
            .stop_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .expect("StopInstances");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
