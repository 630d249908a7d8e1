//! The test's own certificates, made with the `openssl` command line (Debian's; the broker
//! itself has no OpenSSL): a CA, a server certificate it signed for `localhost` only, and a
//! second, unrelated CA.

use std::os::unix::fs::{PermissionsExt as _, chown};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The files the test made.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub other_ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A CA, a server certificate it signed for `localhost` only, and a second, unrelated CA, in
/// `dir` (made afresh, mode 0700, owned by the server's user; the key 0600, as PostgreSQL
/// requires of `ssl_key_file`).
pub fn make_pki(dir: &Path, uid: u32, gid: u32) -> Pki {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    std::fs::create_dir_all(dir)
        .unwrap_or_else(|e| panic!("cannot make {} (run as root): {e}", dir.display()));
    // P-256 keys; extensions as rustls-webpki wants them (a CA with keyCertSign, a leaf for
    // serverAuth whose only name is `localhost`).
    let ca = |name: &str| {
        openssl(
            dir,
            &format!(
                "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                 -keyout {name}.key -out {name}.pem -days 2 -subj /CN=registervakt-test-{name} \
                 -addext basicConstraints=critical,CA:TRUE \
                 -addext keyUsage=critical,keyCertSign,cRLSign"
            ),
        );
    };
    ca("ca");
    ca("other-ca");
    openssl(
        dir,
        "req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
         -keyout server.key -out server.csr -subj /CN=localhost",
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -days 2 -out server.pem \
         -extfile server.ext",
    );
    for (name, mode) in [(".", 0o700), ("server.key", 0o600), ("server.pem", 0o644)] {
        let path = dir.join(name);
        chown(&path, Some(uid), Some(gid)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    Pki {
        dir: dir.to_path_buf(),
        ca: dir.join("ca.pem"),
        other_ca: dir.join("other-ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    }
}

/// Runs `openssl` in `dir` with `command`'s words as arguments.
fn openssl(dir: &Path, command: &str) {
    let out = Command::new("openssl")
        .args(command.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("the openssl command line makes the test's certificates");
    assert!(
        out.status.success(),
        "openssl {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
