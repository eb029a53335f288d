//! Signed records (issue 12 item 3) through the real binary and the real
//! OpenSSH tools: a copy signed by `runbook` verifies with `ssh-keygen -Y
//! verify`, a signature made by `ssh-keygen -Y sign` over the chain head
//! verifies with `runbook verify`, keys in a real `ssh-agent` sign, and
//! every way a signature can be wrong fails with its own message.

use crate::common::Scratch;
use std::process::{Child, Command, Stdio};

const RUNBOOK: &str = "---\ntitle: Signed\nsecrets:\n  TOKEN: { env: SIGN_TOKEN }\n---\n# Signed\n\n\
```bash {name=one}\necho one\n```\n\n\
```bash {name=two}\necho \"token $TOKEN\"\n```\n";
const SECRET: &str = "s3cr3t-signing-token-value";

fn sh(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A key pair `name` (and `name.pub`) of `kind` made by ssh-keygen, with
/// `comment`; `passphrase` empty for none.
fn keygen(s: &Scratch, name: &str, kind: &str, comment: &str, passphrase: &str) {
    let mut c = Command::new("ssh-keygen");
    c.args(["-q", "-t", kind, "-N", passphrase, "-C", comment, "-f"])
        .arg(s.path(name));
    if kind == "rsa" {
        c.args(["-b", "2048"]);
    }
    sh(&mut c);
}

/// `principal namespaces="…" KEY` lines for allowed_signers.
fn allowed_line(s: &Scratch, principal: &str, key: &str, options: &str) -> String {
    let pubkey = s.read(&format!("{key}.pub"));
    let sep = if options.is_empty() { "" } else { " " };
    format!("{principal}{sep}{options} {}\n", pubkey.trim())
}

/// `SHA256:…` of a public key, as ssh-keygen prints it.
fn fingerprint(s: &Scratch, key: &str) -> String {
    let out = sh(Command::new("ssh-keygen")
        .arg("-lf")
        .arg(s.path(&format!("{key}.pub"))));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("fingerprint")
        .to_string()
}

/// `runbook.md` run into `copy.md` (+ `rep/copy.json`) with `extra` flags.
fn run(s: &Scratch, extra: &[&str]) {
    s.write("runbook.md", RUNBOOK);
    s.test()
        .args(["run", "runbook.md", "--yes", "-q", "-o", "copy.md"])
        .args(["--report-dir", "rep", "--format", "json"])
        .args(extra)
        .env("SIGN_TOKEN", SECRET)
        .env_remove("SSH_AUTH_SOCK")
        .run();
}

/// The chain head (`verify --print-head`) into `head`.
fn print_head(s: &Scratch, copy: &str) -> String {
    let out = s.test().args(["verify", copy, "--print-head"]).run();
    assert_eq!(out.stdout.len(), 65, "{}", out.stdout);
    s.write("head", &out.stdout);
    out.stdout.trim().to_string()
}

/// The armored signature in a copy.
fn armored(copy: &str) -> String {
    let a = copy.find("-----BEGIN SSH SIGNATURE-----").expect("signed");
    let z = copy.find("-----END SSH SIGNATURE-----").expect("signed") + 27;
    format!("{}\n", &copy[a..z])
}

fn ssh_keygen_verify(s: &Scratch, principal: &str, sig: &str) -> std::process::Output {
    let head = std::fs::File::open(s.path("head")).expect("head");
    Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(s.path("allowed"))
        .args(["-I", principal, "-n", "runbook-record", "-s"])
        .arg(s.path(sig))
        .stdin(head)
        .output()
        .expect("ssh-keygen")
}

/// A JSON report validates against docs/report-schema.json.
pub fn assert_schema_valid(json: &serde_json::Value) {
    let path = crate::common::repo().join("docs/report-schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("json");
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(json)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn a_copy_signed_by_runbook_verifies_with_ssh_keygen() {
    for kind in ["ed25519", "ecdsa", "rsa"] {
        let s = Scratch::new();
        keygen(&s, "key", kind, "alice@laptop", "");
        run(&s, &["--sign-key", "key"]);
        let copy = s.read("copy.md");
        s.write(
            "allowed",
            &allowed_line(
                &s,
                "alice@example.com",
                "key",
                "namespaces=\"runbook-record\"",
            ),
        );
        let fp = fingerprint(&s, "key");
        s.test()
            .args(["verify", "copy.md", "--allowed-signers", "allowed"])
            .stdout_contains(", signed by alice@example.com (")
            .stdout_contains(format!("{fp})\n"))
            .context(kind)
            .run();
        print_head(&s, "copy.md");
        s.write("copy.sig", &armored(&copy));
        let out = ssh_keygen_verify(&s, "alice@example.com", "copy.sig");
        assert!(
            out.status.success(),
            "{kind}: ssh-keygen -Y verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout)
                .contains("Good \"runbook-record\" signature for alice@example.com"),
            "{out:?}"
        );
        // The signature block is generated: strip gives the source back.
        s.test().args(["strip", "copy.md"]).stdout(RUNBOOK).run();
        // The JSON report names the signer.
        let report: serde_json::Value =
            serde_json::from_str(&s.read("rep/copy.json")).expect("json");
        assert_eq!(report["signature"]["fingerprint"], fp.as_str(), "{kind}");
        assert_eq!(report["signature"]["namespace"], "runbook-record");
        assert_eq!(report["signature"]["comment"], "alice@laptop");
        assert_eq!(report["signature"]["via"], "key");
        assert_schema_valid(&report);
    }
}

#[test]
fn a_signature_made_by_ssh_keygen_verifies_with_runbook() {
    for kind in ["ed25519", "rsa"] {
        let s = Scratch::new();
        keygen(&s, "key", kind, "bob", "");
        run(&s, &[]);
        s.write("allowed", &allowed_line(&s, "bob@example.com", "key", ""));
        let head = print_head(&s, "copy.md");
        sh(Command::new("ssh-keygen")
            .args(["-Y", "sign", "-n", "runbook-record", "-f"])
            .arg(s.path("key"))
            .arg(s.path("head")));
        s.test()
            .args(["sign", "copy.md", "--signature", "head.sig"])
            .stderr("signed copy.md\n")
            .run();
        let copy = s.read("copy.md");
        assert!(
            copy.contains(&format!("runbook-record signature of chain head {head}\n")),
            "{copy}"
        );
        s.test()
            .args(["verify", "copy.md", "--allowed-signers", "allowed"])
            .stdout_contains(format!(
                ", signed by bob@example.com (ssh-{} {})\n",
                if kind == "rsa" { "rsa" } else { "ed25519" },
                fingerprint(&s, "key")
            ))
            .context(kind)
            .run();
        s.test().args(["strip", "copy.md"]).stdout(RUNBOOK).run();
        // Signed again (another key, through `sign --key`): one block.
        keygen(&s, "key2", "ed25519", "carol", "");
        s.test().args(["sign", "copy.md", "--key", "key2"]).run();
        let copy = s.read("copy.md");
        assert_eq!(copy.matches("BEGIN SSH SIGNATURE").count(), 1, "{copy}");
        s.test()
            .args(["verify", "copy.md", "--allowed-signers", "allowed"])
            .status(1)
            .stdout_contains("signer not allowed: the signer's key ssh-ed25519 ")
            .run();
    }
}

/// A real ssh-agent on a socket in the scratch dir, stopped on drop.
struct Agent {
    child: Child,
    socket: std::path::PathBuf,
}

impl Agent {
    fn start(s: &Scratch) -> Agent {
        let socket = s.path("agent.sock");
        let child = Command::new("ssh-agent")
            .args(["-D", "-a"])
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent");
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Agent { child, socket }
    }

    /// `ssh-add KEY` (the passphrase through SSH_ASKPASS).
    fn add(&self, s: &Scratch, key: &str, passphrase: &str) {
        let askpass = s.path("askpass.sh");
        std::fs::write(&askpass, format!("#!/bin/sh\necho '{passphrase}'\n")).expect("askpass");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        sh(Command::new("ssh-add")
            .arg(s.path(key))
            .env("SSH_AUTH_SOCK", &self.socket)
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .stdin(Stdio::null()));
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn keys_in_a_real_ssh_agent_sign() {
    let s = Scratch::new();
    // A passphrase-protected key: only the agent can use it here.
    keygen(&s, "key", "ed25519", "agent-key", "correct horse");
    s.write("runbook.md", RUNBOOK);
    s.write("allowed", &allowed_line(&s, "ops@example.com", "key", ""));
    // Without an agent and without a terminal: refused before anything runs.
    s.test()
        .args(["run", "runbook.md", "--yes", "-q", "-o", "copy.md"])
        .args(["--sign-key", "key"])
        .env_remove("SSH_AUTH_SOCK")
        .status(2)
        .stderr(
            "error: --sign-key key: the key is passphrase-protected and there is no terminal to ask on; \
             add it to ssh-agent (ssh-add key) and run with SSH_AUTH_SOCK set, or use a key without a passphrase\n",
        )
        .run();
    assert!(!s.path("copy.md").exists());
    let agent = Agent::start(&s);
    s.test()
        .args(["run", "runbook.md", "--yes", "-q", "-o", "copy.md"])
        .args(["--sign-key", "agent"])
        .env("SSH_AUTH_SOCK", &agent.socket)
        .status(2)
        .stderr(format!(
            "error: --sign-key agent: the ssh-agent at {} holds no ed25519, ecdsa or rsa key (ssh-add one first)\n",
            agent.socket.display()
        ))
        .run();
    agent.add(&s, "key", "correct horse");
    for (spec, file) in [("key", "a.md"), ("agent", "b.md"), ("key.pub", "c.md")] {
        s.test()
            .args(["run", "runbook.md", "--yes", "-q", "-o", file])
            .env("RUNBOOK_SIGN_KEY", spec)
            .env("SSH_AUTH_SOCK", &agent.socket)
            .env("SIGN_TOKEN", SECRET)
            .context(spec)
            .run();
        s.test()
            .args(["verify", file, "--allowed-signers", "allowed"])
            .stdout_contains(", signed by ops@example.com (ssh-ed25519 ")
            .context(spec)
            .run();
        print_head(&s, file);
        s.write("agent.sig", &armored(&s.read(file)));
        let out = ssh_keygen_verify(&s, "ops@example.com", "agent.sig");
        assert!(out.status.success(), "{spec}: {out:?}");
    }
    // An RSA key in the agent signs with rsa-sha2-512.
    keygen(&s, "rsa", "rsa", "agent-rsa", "");
    agent.add(&s, "rsa", "");
    s.write("allowed", &allowed_line(&s, "rsa@example.com", "rsa", ""));
    s.test()
        .args([
            "run",
            "runbook.md",
            "--yes",
            "-q",
            "-o",
            "r.md",
            "--sign-key",
            "rsa.pub",
        ])
        .env("SSH_AUTH_SOCK", &agent.socket)
        .env("SIGN_TOKEN", SECRET)
        .run();
    print_head(&s, "r.md");
    let pem = armored(&s.read("r.md"));
    s.write("rsa.sig", &pem);
    let out = ssh_keygen_verify(&s, "rsa@example.com", "rsa.sig");
    assert!(out.status.success(), "rsa via agent: {out:?}");
    let json: serde_json::Value = serde_json::from_str(
        &s.test()
            .args([
                "verify",
                "r.md",
                "--allowed-signers",
                "allowed",
                "--format",
                "json",
            ])
            .run()
            .stdout,
    )
    .expect("json");
    assert_eq!(json["signature"]["key_type"], "ssh-rsa");
    assert_eq!(json["signature"]["principals"][0], "rsa@example.com");
}

#[test]
fn wrong_signatures_fail_each_with_its_message() {
    let s = Scratch::new();
    keygen(&s, "key", "ed25519", "alice", "");
    keygen(&s, "other", "ed25519", "eve", "");
    s.write("allowed", &allowed_line(&s, "alice@example.com", "key", ""));
    run(&s, &["--sign-key", "key"]);
    let copy = s.read("copy.md");
    let head = runbook::document::chain::head(&copy).expect("head");
    let sig_line = copy
        .lines()
        .position(|l| l.contains(" signature -->"))
        .expect("signature block")
        + 1;
    let fails = |name: &str, text: &str, flags: &[&str], expected: &str| {
        s.write(name, text);
        s.test()
            .args(["verify", name])
            .args(flags)
            .status(1)
            .stdout(format!("verify failed: {name} {expected}\n"))
            .run();
    };
    // Unsigned, with a signature required.
    s.test()
        .args(["run", "runbook.md", "--yes", "-q", "-o", "unsigned.md"])
        .env("SIGN_TOKEN", SECRET)
        .run();
    let unsigned = s.read("unsigned.md");
    let why = "line 1, step header: not signed: the copy carries no signature (sign it with `run --sign-key` or `runbook sign`)";
    fails("u1.md", &unsigned, &["--require-signature"], why);
    fails("u2.md", &unsigned, &["--allowed-signers", "allowed"], why);
    // The block edited by hand.
    let pem = armored(&copy);
    let mut bytes = pem.clone().into_bytes();
    let last = pem.rfind("\n-----END").expect("end") - 4;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let bad_pem = String::from_utf8(bytes).expect("utf8");
    fails(
        "t1.md",
        &copy.replace(&pem, &bad_pem),
        &[],
        &format!(
            "line {sig_line}, step signature: signature invalid: the signature block was edited (its content no longer matches its marker)"
        ),
    );
    // ... and with its marker made to match again.
    let forged = runbook::document::signature::embed(&copy, &head, &bad_pem).expect("embed");
    fails(
        "t2.md",
        &forged,
        &[],
        &format!(
            "line {sig_line}, step signature: signature invalid: the signature does not verify over this copy's chain head {} (the signature was altered, or made over another head)",
            &head[..16]
        ),
    );
    // Another namespace (a git signature of the same head).
    print_head(&s, "copy.md");
    sh(Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", "git", "-f"])
        .arg(s.path("key"))
        .arg(s.path("head")));
    let git = std::fs::read_to_string(s.path("head.sig")).expect("sig");
    s.test()
        .args(["sign", "copy.md", "--signature", "head.sig", "-o", "never.md"])
        .status(1)
        .stderr("error: head.sig: the signature is for namespace `git`, not `runbook-record`: it was not made for a runbook record\n")
        .run();
    assert!(!s.path("never.md").exists());
    let git_copy = runbook::document::signature::embed(&copy, &head, &git).expect("embed");
    fails(
        "t3.md",
        &git_copy,
        &[],
        &format!(
            "line {sig_line}, step signature: wrong namespace: the signature is for namespace `git`, not `runbook-record`: it was not made for a runbook record"
        ),
    );
    // A key not in allowed_signers, and one allowed for other namespaces.
    let fp = fingerprint(&s, "key");
    s.write("others", &allowed_line(&s, "eve@example.com", "other", ""));
    fails(
        "t4.md",
        &copy,
        &["--allowed-signers", "others"],
        &format!(
            "line {sig_line}, step signature: signer not allowed: the signer's key ssh-ed25519 {fp} is not in others"
        ),
    );
    s.write(
        "git-only",
        &format!(
            "# git only\n{}",
            allowed_line(&s, "alice@example.com", "key", "namespaces=\"git\"")
        ),
    );
    fails(
        "t5.md",
        &copy,
        &["--allowed-signers", "git-only"],
        &format!(
            "line {sig_line}, step signature: signer not allowed: the signer's key ssh-ed25519 {fp} is in git-only (line 2) but not for namespace runbook-record"
        ),
    );
    s.write(
        "expired",
        &allowed_line(&s, "alice@example.com", "key", "valid-before=\"20200101\""),
    );
    fails(
        "t6.md",
        &copy,
        &["--allowed-signers", "expired"],
        &format!(
            "line {sig_line}, step signature: signer not allowed: the signer's key ssh-ed25519 {fp} is in expired (line 1) but expired (valid-before)"
        ),
    );
    // A valid signature of another run's head, moved into this copy.
    s.test()
        .args([
            "run",
            "runbook.md",
            "--yes",
            "-q",
            "-o",
            "second.md",
            "--sign-key",
            "key",
        ])
        .env("SIGN_TOKEN", SECRET)
        .run();
    let second = s.read("second.md");
    let moved = copy.replace(&armored(&copy), &armored(&second));
    let (other_head, moved) = {
        let h2 = runbook::document::chain::head(&second).expect("head");
        let m = runbook::document::signature::embed(&moved, &h2, &armored(&second)).expect("embed");
        (h2, m)
    };
    fails(
        "t7.md",
        &moved,
        &[],
        &format!(
            "line {sig_line}, step signature: signature over another head: the signature by {fp} is over chain head {}, not this copy's {}",
            &other_head[..16],
            &head[..16]
        ),
    );
    // A malformed allowed_signers file is a usage error naming its line.
    s.write("broken", "alice@example.com\n");
    s.test()
        .args(["verify", "copy.md", "--allowed-signers", "broken"])
        .status(2)
        .stderr_contains("error: broken:1: not an allowed_signers entry: ")
        .run();
}

#[test]
fn a_secret_never_reaches_the_signed_copy_or_its_signature() {
    let s = Scratch::new();
    keygen(&s, "key", "ed25519", "alice", "");
    run(&s, &["--sign-key", "key"]);
    for f in ["copy.md", "rep/copy.json"] {
        let text = s.read(f);
        assert!(!text.contains(SECRET), "{f}: {text}");
    }
    let copy = s.read("copy.md");
    assert!(
        copy.contains("token ********") || copy.contains("token ["),
        "{copy}"
    );
    s.test()
        .args(["verify", "copy.md", "--require-signature"])
        .stdout_contains(", signed by ssh-ed25519 ")
        .stdout_contains("(signer not checked: no --allowed-signers)")
        .run();
}

#[test]
fn bad_sign_keys_refuse_the_run_before_anything_runs() {
    let s = Scratch::new();
    s.write("runbook.md", "```bash {name=a}\ntouch ran\n```\n");
    keygen(&s, "key", "ed25519", "x", "");
    let refused = |key: &str, env_sock: bool, expected: &str| {
        let mut t = s
            .test()
            .args(["run", "runbook.md", "--yes", "-q", "--sign-key", key])
            .status(2)
            .stderr(format!("error: {expected}\n"));
        if !env_sock {
            t = t.env_remove("SSH_AUTH_SOCK");
        }
        t.run();
        assert!(!s.path("ran").exists(), "{key}");
    };
    refused(
        "missing",
        false,
        "--sign-key missing: cannot read it: No such file or directory (os error 2)",
    );
    s.write("garbage", "not a key\n");
    refused(
        "garbage",
        false,
        "--sign-key garbage: neither an OpenSSH private key nor a public key (Base64 encoding error: invalid Base64 encoding)",
    );
    refused(
        "key.pub",
        false,
        "--sign-key key.pub: a public key, and no ssh-agent holds its private key (SSH_AUTH_SOCK is not set)",
    );
    refused(
        "agent",
        false,
        "--sign-key agent: no ssh-agent (SSH_AUTH_SOCK is not set); start one and ssh-add the key, or pass the key file",
    );
    // A FIFO is refused without waiting for a writer.
    nix::unistd::mkfifo(&s.path("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    refused("fifo", false, "--sign-key fifo: not a regular file");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(s.path("key"), std::fs::Permissions::from_mode(0o666)).unwrap();
    refused(
        "key",
        false,
        "--sign-key key: writable by other users (mode 666); chmod 600 it",
    );
    std::fs::set_permissions(s.path("key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    refused(
        "key",
        false,
        "--sign-key key: a private key readable by other users (mode 644); chmod 600 it (ssh refuses it too)",
    );
    // ssh-keygen refuses the same key.
    let out = Command::new("ssh-keygen")
        .args([
            "-Y",
            "sign",
            "-f",
            "key",
            "-n",
            "runbook-record",
            "runbook.md",
        ])
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    // The public key beside it is 0644 as usual, and that is fine.
    assert_eq!(
        std::fs::metadata(s.path("key.pub"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o644
    );
}

#[test]
fn a_resumed_run_signs_its_new_head() {
    let s = Scratch::new();
    keygen(&s, "key", "ed25519", "alice", "");
    s.write("allowed", &allowed_line(&s, "alice@example.com", "key", ""));
    s.write(
        "runbook.md",
        "```bash {name=a}\necho a\n```\n\n```bash {name=b}\ntest -e fixed\n```\n",
    );
    let run = |status: i32| {
        let mut args = vec![
            "run",
            "runbook.md",
            "--yes",
            "-q",
            "-o",
            "copy.md",
            "--sign-key",
            "key",
        ];
        if status == 0 {
            args.push("--resume");
        }
        s.test().args(args).status(status).run();
    };
    run(1);
    let first = runbook::document::chain::head(&s.read("copy.md")).expect("head");
    s.test()
        .args(["verify", "copy.md", "--allowed-signers", "allowed"])
        .stdout_contains(": 2 steps, failed, operator ")
        .stdout_contains(", signed by alice@example.com")
        .run();
    s.write("fixed", "");
    run(0);
    let copy = s.read("copy.md");
    let second = runbook::document::chain::head(&copy).expect("head");
    assert_ne!(first, second);
    assert!(
        copy.contains(&format!("signature of chain head {second}\n")),
        "{copy}"
    );
    s.test()
        .args(["verify", "copy.md", "--allowed-signers", "allowed"])
        .stdout_contains("2 steps, ok, operator ")
        .stdout_contains(", signed by alice@example.com")
        .run();
}

#[test]
fn re_signing_replaces_the_signature_and_says_whose() {
    let s = Scratch::new();
    keygen(&s, "alice", "ed25519", "alice", "");
    keygen(&s, "bob", "ed25519", "bob", "");
    run(&s, &["--sign-key", "alice"]);
    s.test()
        .args(["sign", "copy.md", "--key", "bob"])
        .env_remove("SSH_AUTH_SOCK")
        .stderr(format!(
            "signed copy.md (replacing the signature by ssh-ed25519 {})\n",
            fingerprint(&s, "alice")
        ))
        .run();
    let copy = s.read("copy.md");
    assert_eq!(copy.matches("-----BEGIN SSH SIGNATURE-----").count(), 1);
    s.write("allowed", &allowed_line(&s, "bob@example.com", "bob", ""));
    s.test()
        .args(["verify", "copy.md", "--allowed-signers", "allowed"])
        .stdout_contains("signed by bob@example.com")
        .run();
    // The same key again: nothing replaced, nothing said about it.
    s.test()
        .args(["sign", "copy.md", "--key", "bob"])
        .env_remove("SSH_AUTH_SOCK")
        .stderr("signed copy.md\n")
        .run();
}
