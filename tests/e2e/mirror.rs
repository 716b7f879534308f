//! `autobench mirror` against a real OpenSSH server on localhost (started here with a key made
//! for the test; `scripts/test` installs openssh-server and rsync): files follow the remote run while
//! it is active, the progress log arrives cleaned, a stalled mirror warns, the mirror exits once
//! the remote run ends, and a quiet run is checked for a live process on the remote side.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::common;

struct Sshd {
    child: Child,
    port: u16,
    key: std::path::PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
}

fn start_sshd(dir: &Path) -> Sshd {
    let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("sshd is needed for the mirror test: scripts/test installs openssh-server");
    let _ = std::fs::create_dir_all("/run/sshd");
    keygen(&dir.join("host_key"));
    keygen(&dir.join("user_key"));
    std::fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).expect("keys");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {auth}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nPidFile {pid}\n",
        host = dir.join("host_key").display(),
        auth = dir.join("authorized_keys").display(),
        pid = dir.join("sshd.pid").display(),
    );
    std::fs::write(dir.join("sshd_config"), config).expect("config");
    let child = Command::new(sshd)
        .args(["-D", "-e", "-f"])
        .arg(dir.join("sshd_config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sshd");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "sshd did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Sshd {
        child,
        port,
        key: dir.join("user_key"),
    }
}

fn wait_until(what: &str, timeout: Duration, check: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `autobench mirror` of `remote` (through the test's sshd) into `local`.
fn spawn_mirror(sshd: &Sshd, remote: &Path, local: &Path, stale_after: &str) -> Child {
    let user = String::from_utf8_lossy(&Command::new("whoami").output().expect("whoami").stdout)
        .trim()
        .to_string();
    let ssh = format!(
        "-p {} -i {} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
        sshd.port,
        sshd.key.display()
    );
    common::bin()
        .args([
            "mirror",
            "--interval",
            "0.3",
            "--stale-after",
            stale_after,
            "--ssh",
            &ssh,
        ])
        .arg(format!("{user}@127.0.0.1:{}", remote.display()))
        .arg(local)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mirror")
}

fn wait_for_exit(child: &mut Child, timeout: Duration) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the mirror did not exit");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read");
    (status, stderr)
}

#[test]
fn mirror_asks_the_remote_whether_a_quiet_run_is_alive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sshd = start_sshd(dir.path());
    let remote = dir.path().join("remote-run");
    let local = dir.path().join("local-run");
    std::fs::create_dir_all(&remote).expect("mkdir");
    // The "remote run" is a real autobench process that stays quiet.
    let mut owner = common::bin()
        .args(["serve", "--port", "0", "--dir"])
        .arg(dir.path().join("empty"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("autobench serve");
    let meta = format!(
        "{{\"schema_version\": 1, \"process\": {{\"pid\": {}, \"host\": \"remote\"}}}}",
        owner.id()
    );
    std::fs::write(remote.join("run_meta.json"), meta).expect("write");
    std::fs::write(
        remote.join("progress.log"),
        "2026-01-01 00:00:00 candidates=1\n",
    )
    .expect("write");
    let mut mirror = spawn_mirror(&sshd, &remote, &local, "1");
    wait_until("the first sync", Duration::from_secs(20), || {
        local.join("run_meta.json").is_file()
    });
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        mirror.try_wait().expect("wait").is_none(),
        "alive: keeps going"
    );
    let _ = owner.kill();
    let _ = owner.wait();
    let (status, stderr) = wait_for_exit(&mut mirror, Duration::from_secs(20));
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("the remote process is alive"), "{stderr}");
    assert!(stderr.contains("process is gone"), "{stderr}");
}

#[test]
fn mirror_follows_a_remote_run_over_ssh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sshd = start_sshd(dir.path());
    let remote = dir.path().join("remote-run");
    let local = dir.path().join("local-run");
    std::fs::create_dir_all(remote.join("logs")).expect("mkdir");
    std::fs::write(remote.join("results.jsonl"), "{\"trial\": 1}\n").expect("write");
    std::fs::write(remote.join("logs/server_base_cand0.log"), "ready\n").expect("write");
    std::fs::write(remote.join("prepared_dataset.jsonl"), "big, not mirrored\n").expect("write");
    std::fs::write(
        remote.join("progress.log"),
        "2026-01-01 00:00:00 candidates=1\n\u{1b}[32m 10%|#  |\r\u{1b}[32m 20%|## |\u{1b}[0m\n",
    )
    .expect("write");
    let mut mirror = spawn_mirror(&sshd, &remote, &local, "1.5");

    // One sync publishes its files one by one, so wait for all of the first sync's files.
    wait_until("the first sync", Duration::from_secs(20), || {
        [
            "results.jsonl",
            "progress.log",
            "logs/server_base_cand0.log",
        ]
        .iter()
        .all(|f| local.join(f).is_file())
    });
    assert!(
        !local.join("prepared_dataset.jsonl").exists(),
        "only result files are mirrored"
    );
    let progress = std::fs::read_to_string(local.join("progress.log")).expect("progress");
    assert_eq!(
        progress, "2026-01-01 00:00:00 candidates=1\n 20%|## |\n",
        "cleaned"
    );

    // A new trial on the remote side shows up locally while the run is active.
    std::fs::write(
        remote.join("results.jsonl"),
        "{\"trial\": 1}\n{\"trial\": 2}\n",
    )
    .expect("write");
    wait_until("the new trial", Duration::from_secs(10), || {
        std::fs::read_to_string(local.join("results.jsonl"))
            .is_ok_and(|t| t.contains("\"trial\": 2"))
    });

    // Nothing changes for a while: the mirror warns; then the run ends and the mirror exits.
    std::thread::sleep(Duration::from_secs(3));
    // The run's end is read from its typed events, not from the human progress log.
    std::fs::write(
        remote.join("events.jsonl"),
        "{\"seq\":0,\"at\":\"2026-01-01T00:10:00Z\",\"event\":\"run_finished\",\"status\":\"finished\",\"partial\":null,\"answers\":[]}\n",
    )
    .expect("write");
    std::fs::write(remote.join("SUMMARY.md"), "# done\n").expect("write");
    let (status, stderr) = wait_for_exit(&mut mirror, Duration::from_secs(20));
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("WARNING: nothing changed"), "{stderr}");
    assert!(stderr.contains("the remote run ended"), "{stderr}");
    assert!(local.join("SUMMARY.md").is_file(), "final sync");
}
