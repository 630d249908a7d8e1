use super::*;

const PASSWORD: &str = "hunter2hunter2";

fn refusal(key: &'static str, url: &str) -> String {
    match check(key, url) {
        Ok(()) => panic!("{url} was accepted"),
        Err(e) => e.to_string(),
    }
}

fn accepted(url: &str) {
    if let Err(e) = check("store.url", url) {
        panic!("{url} was refused: {e}");
    }
}

#[test]
fn a_postgres_url_off_loopback_without_sslmode_is_refused_naming_the_key_and_the_fix() {
    let msg = refusal("store.url", "postgres://rv@db.example.org/registervakt");
    assert!(msg.contains("`store.url`"), "{msg}");
    assert!(msg.contains("db.example.org"), "{msg}");
    assert!(msg.contains("sslmode=prefer, the default"), "{msg}");
    assert!(msg.contains("add sslmode=verify-full"), "{msg}");
    assert!(!msg.contains('\n'), "one sentence, one line: {msg}");
}

#[test]
fn every_postgres_mode_but_verify_full_is_refused_off_loopback() {
    for mode in ["disable", "allow", "prefer", "require", "verify-ca"] {
        let url = format!("postgres://rv@10.1.2.3/rv?sslmode={mode}&sslrootcert=/etc/rv/ca.pem");
        let msg = refusal("register.url", &url);
        assert!(msg.contains("`register.url`"), "{mode}: {msg}");
        assert!(msg.contains("10.1.2.3"), "{mode}: {msg}");
    }
    accepted("postgres://rv@10.1.2.3/rv?sslmode=verify-full&sslrootcert=/etc/rv/ca.pem");
    accepted("postgresql://rv@db.example.org/rv?sslmode=verify-full");
}

#[test]
fn verify_ca_is_refused_even_with_a_root_because_sqlx_also_trusts_public_cas_and_may_skip_the_name()
{
    let msg = refusal(
        "store.url",
        "postgres://rv@db.example.org/rv?sslmode=verify-ca&sslrootcert=/etc/rv/ca.pem",
    );
    assert!(msg.contains("sslmode=verify-ca"), "{msg}");
    assert!(msg.contains("also trusts public CAs"), "{msg}");
}

#[test]
fn the_other_spellings_sqlx_reads_for_the_postgres_mode_count_the_same() {
    accepted("postgres://rv@db.example.org/rv?ssl-mode=verify-full&ssl-root-cert=/ca.pem");
    accepted("postgres://rv@db.example.org/rv?sslmode=VERIFY-FULL&ssl-ca=/ca.pem");
    // The last of two modes is the one sqlx uses.
    refusal(
        "store.url",
        "postgres://rv@db.example.org/rv?sslmode=verify-full&sslmode=require",
    );
}

#[test]
fn loopback_hosts_and_unix_sockets_may_go_without_tls() {
    for url in [
        "postgres://postgres@127.0.0.1:5432/test",
        "postgres://postgres@127.0.0.2/test",
        "postgres://postgres@localhost/test",
        "postgres://postgres@LOCALHOST/test?sslmode=disable",
        "postgres://postgres@[::1]:5432/test",
        "postgres://postgres@[::ffff:127.0.0.1]/test",
        "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/test",
        "postgres://postgres@db.example.org/test?host=/var/run/postgresql",
        "mysql://root@127.0.0.1:3306/test",
        "mariadb://root@localhost/test",
        "mysql://root@[::1]/test",
        "mysql://root@db.example.org/test?socket=/run/mysqld/mysqld.sock",
        "sqlite:/var/lib/register/members.db",
    ] {
        accepted(url);
    }
}

#[test]
fn ipv6_hosts_off_loopback_need_verify_full() {
    let msg = refusal("store.url", "postgres://rv@[2001:db8::5]:5432/rv");
    assert!(msg.contains("[2001:db8::5]"), "{msg}");
    accepted("postgres://rv@[2001:db8::5]:5432/rv?sslmode=verify-full");
    refusal("register.url", "mysql://rv@[fe80::1]/party");
    refusal(
        "register.url",
        "postgres://rv@localhost/rv?host=2001:db8::5",
    );
}

#[test]
fn the_host_query_parameter_and_hostaddr_are_judged_as_sqlx_connects() {
    // `host=` overrides the URL's host: this connects to db.example.org.
    let msg = refusal(
        "store.url",
        "postgres://rv@localhost/rv?host=db.example.org",
    );
    assert!(msg.contains("db.example.org"), "{msg}");
    // `hostaddr=` is the address sqlx connects to.
    refusal("store.url", "postgres://rv@127.0.0.1/rv?hostaddr=10.0.0.5");
    accepted("postgres://rv@db.example.org/rv?hostaddr=127.0.0.1");
    accepted("postgres://rv@db.example.org/rv?host=::1");
    accepted("postgres://rv@localhost/rv?host=db.example.org&sslmode=verify-full");
}

#[test]
fn names_that_only_look_local_are_remote() {
    for host in [
        "localhost.example.org",
        "127.0.0.1.nip.io",
        "mylocalhost",
        "0.0.0.0",
    ] {
        refusal("store.url", &format!("postgres://rv@{host}/rv"));
    }
}

#[test]
fn a_mysql_or_mariadb_url_off_loopback_needs_verify_identity() {
    for mode in ["DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA"] {
        let url = format!("mysql://rv@db.example.org/party?ssl-mode={mode}&ssl-ca=/etc/rv/ca.pem");
        let msg = refusal("register.url", &url);
        assert!(msg.contains("`register.url`"), "{mode}: {msg}");
        assert!(msg.contains("ssl-mode=VERIFY_IDENTITY"), "{mode}: {msg}");
    }
    let msg = refusal("register.url", "mariadb://rv@db.example.org/party");
    assert!(msg.contains("ssl-mode=PREFERRED, the default"), "{msg}");
    accepted("mariadb://rv@db.example.org/party?ssl-mode=VERIFY_IDENTITY&ssl-ca=/ca.pem");
    accepted("mysql://rv@db.example.org/party?sslmode=verify_identity");
}

#[test]
fn a_refusal_never_contains_the_user_or_the_password() {
    let encoded = "p%40ss%2Fw0rd-hunter2";
    for url in [
        format!("postgres://alice:{PASSWORD}@db.example.org/rv"),
        format!("postgres://alice:{PASSWORD}@db.example.org/rv?sslmode=verify-ca"),
        format!("postgres://alice:{encoded}@db.example.org/rv?sslmode=require"),
        format!("postgres://db.example.org/rv?user=alice&password={PASSWORD}"),
        format!("mysql://alice:{PASSWORD}@db.example.org/party"),
        format!("mariadb://alice:{encoded}@10.0.0.7/party?ssl-mode=REQUIRED"),
    ] {
        let msg = refusal("register.url", &url);
        for secret in [PASSWORD, encoded, "p@ss/w0rd", "alice"] {
            assert!(!msg.contains(secret), "{msg}");
        }
    }
}

#[test]
fn a_url_the_driver_cannot_read_is_refused_without_its_password() {
    for url in [
        format!("postgres://alice:{PASSWORD}@db.example.org:notaport/rv"),
        format!("postgres://alice:{PASSWORD}@db.example.org/rv?sslmode=sometimes"),
        format!("postgres://alice:{PASSWORD}@db.example.org/rv?hostaddr=db.example.org"),
        format!("mysql://alice:{PASSWORD}@db.example.org/party?ssl-mode=always"),
    ] {
        let msg = refusal("store.url", &url);
        assert!(
            msg.contains("not a URL the database driver can read"),
            "{msg}"
        );
        assert!(!msg.contains(PASSWORD), "{msg}");
    }
}

#[test]
fn the_password_is_removed_as_written_and_as_decoded() {
    let url = "postgres://u:p%40ss@h/db";
    assert_eq!(
        without_password("saw p%40ss and p@ss", url),
        "saw *** and ***"
    );
    assert_eq!(
        without_password("nothing here", "postgres://u@h/db"),
        "nothing here"
    );
}
