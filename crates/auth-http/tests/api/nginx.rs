//! A real nginx with `deploy/nginx/auth-gateway.conf` in front of a static upstream: requests
//! reach the upstream only with a live access token, and a logout shuts the door at once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{jwt_claims, spawn_app};

/// nginx from the Debian package (`.ci/run` installs nginx-light), or from PATH. CI must have it;
/// elsewhere its absence is said, not hidden.
fn nginx() -> Option<PathBuf> {
    let candidates = [PathBuf::from("/usr/sbin/nginx"), PathBuf::from("nginx")];
    let found = candidates
        .into_iter()
        .find(|candidate| Command::new(candidate).arg("-v").output().is_ok_and(|output| output.status.success()));
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must provide nginx (apt-get install nginx-light)");
        eprintln!("SKIPPED: the nginx gateway test (no nginx; apt-get install nginx-light)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("bound").port()
}

/// nginx in the foreground, stopped when dropped.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The shipped configuration, pointed at the test's ports, inside a minimal main configuration
/// whose second server is the static upstream: it echoes the identity headers it received.
fn write_configuration(folder: &Path, auth_port: u16, gateway_port: u16, upstream_port: u16) -> PathBuf {
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/nginx/auth-gateway.conf"))
        .expect("deploy/nginx/auth-gateway.conf");
    let gateway = shipped
        .replace("server 127.0.0.1:8080;", &format!("server 127.0.0.1:{auth_port};"))
        .replace("server 127.0.0.1:9000;", &format!("server 127.0.0.1:{upstream_port};"))
        .replace("listen 8000;", &format!("listen 127.0.0.1:{gateway_port};"));
    assert_ne!(gateway, shipped, "the shipped file no longer has the expected placeholders");
    std::fs::write(folder.join("auth-gateway.conf"), gateway).expect("written");
    let folder_text = folder.display();
    let main = format!(
        r#"
daemon off;
worker_processes 1;
pid {folder_text}/nginx.pid;
error_log {folder_text}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {folder_text}/body;
    proxy_temp_path {folder_text}/proxy;
    fastcgi_temp_path {folder_text}/fastcgi;
    uwsgi_temp_path {folder_text}/uwsgi;
    scgi_temp_path {folder_text}/scgi;
    include {folder_text}/auth-gateway.conf;
    server {{
        listen 127.0.0.1:{upstream_port};
        location / {{
            default_type text/plain;
            return 200 "upstream: user=$http_x_auth_user_id session=$http_x_auth_session_id roles=$http_x_auth_roles\n";
        }}
    }}
}}
"#
    );
    let path = folder.join("nginx.conf");
    std::fs::write(&path, main).expect("written");
    path
}

#[tokio::test]
async fn nginx_lets_through_only_live_tokens_and_shuts_the_door_at_logout() {
    let Some(nginx) = nginx() else { return };
    let app = spawn_app().await;
    let user = app.signed_in_user("ada@example.com").await;
    let user_id = jwt_claims(&user.access)["sub"].as_str().expect("sub").to_owned();

    let folder = tempfile::tempdir().expect("a folder");
    let auth_port: u16 = app.address.rsplit(':').next().and_then(|port| port.parse().ok()).expect("the app's port");
    let (gateway_port, upstream_port) = (free_port(), free_port());
    let configuration = write_configuration(folder.path(), auth_port, gateway_port, upstream_port);
    let checked = Command::new(&nginx)
        .args(["-t", "-p"])
        .arg(folder.path())
        .arg("-c")
        .arg(&configuration)
        .output()
        .expect("nginx runs");
    assert!(checked.status.success(), "nginx -t: {}", String::from_utf8_lossy(&checked.stderr));
    let _nginx = Nginx(
        Command::new(&nginx)
            .arg("-p")
            .arg(folder.path())
            .arg("-c")
            .arg(&configuration)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts"),
    );
    let gateway = format!("http://127.0.0.1:{gateway_port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.client.get(format!("{gateway}/.well-known/jwks.json")).send().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {:?}",
            std::fs::read_to_string(folder.path().join("error.log"))
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let protected = format!("{gateway}/api/hello");

    // Without a token, or with a forged identity header, the upstream is never reached.
    let anonymous = app.client.get(&protected).header("X-Auth-User-Id", &user_id).send().await.expect("sent");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let challenge = anonymous.headers()["www-authenticate"].to_str().expect("ASCII").to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(!anonymous.text().await.expect("a body").contains("upstream"));
    let garbage = app.client.get(&protected).bearer_auth("not.a.token").send().await.expect("sent");
    assert_eq!(garbage.status(), StatusCode::UNAUTHORIZED);

    // With a live token, the upstream is reached with the identity auth-http vouched for.
    let allowed = app
        .client
        .get(&protected)
        .bearer_auth(&user.access)
        .header("X-Auth-User-Id", "someone-else")
        .send()
        .await
        .expect("sent");
    assert_eq!(allowed.status(), StatusCode::OK);
    let echoed = allowed.text().await.expect("a body");
    assert!(echoed.contains(&format!("user={user_id} ")), "{echoed}");
    assert!(echoed.contains(&format!("session={} ", user.session_id)), "{echoed}");

    // A logout through the gateway closes it for that token at once.
    let logout = app.client.post(format!("{gateway}/v1/auth/logout")).bearer_auth(&user.access).send().await;
    let logout = logout.expect("sent");
    let status = logout.status();
    assert_eq!(status, StatusCode::NO_CONTENT, "{:?}", logout.text().await);
    let after_logout = app.client.get(&protected).bearer_auth(&user.access).send().await.expect("sent");
    assert_eq!(after_logout.status(), StatusCode::UNAUTHORIZED);
    assert!(!after_logout.text().await.expect("a body").contains("upstream"));
}
