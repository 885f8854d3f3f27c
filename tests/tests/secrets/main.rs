//! No secret leaks: both services run at `RUST_LOG=trace` with secrets
//! this test knows (queue-token secret, admin key, JWT secret, database
//! password, Redis password inside `REDIS_URL`); every endpoint is driven,
//! with good and bad credentials, through a Redis outage; then every log
//! line, every response body and the `--help` output are searched for any
//! of them.

use std::process::{Child, Command};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::{Connection, MySqlConnection};
use tests::mysql::TestDatabase;
use tests::process::{free_port, wait_until_ready};
use tests::redis_server::ThrowawayRedis;
use tests::reservation_app::rfc3339;
use tests::service_binary;
use tests::{eventually, mysql_admin_url, unique_suffix};
use time::OffsetDateTime;

const TOKEN_SECRET: &str = "leak-check-token-secret-7f3a9c";
const ADMIN_KEY: &str = "leak-check-admin-key-4b2e8d";
const JWT_SECRET: &str = "leak-check-jwt-secret-9d1c5e-0123456789";
const DB_PASSWORD: &str = "leak-check-db-password-3e7f1a";
const REDIS_PASSWORD: &str = "leak-check-redis-password-8c4d2b";
const SECRETS: [&str; 5] = [
    TOKEN_SECRET,
    ADMIN_KEY,
    JWT_SECRET,
    DB_PASSWORD,
    REDIS_PASSWORD,
];

struct Service {
    child: Child,
    log: std::path::PathBuf,
}

fn start(name: &str, port: u16, envs: &[(&str, String)]) -> Service {
    let log = std::env::temp_dir().join(format!("leak-{name}-{port}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new(service_binary(name))
        .env_clear()
        .env("PORT", port.to_string())
        .env("RUST_LOG", "trace")
        .env("QUEUE_TOKEN_SECRET", TOKEN_SECRET)
        .env("ADMIN_API_KEY", ADMIN_KEY)
        .env("AUTH_JWT_SECRET", JWT_SECRET)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    Service { child, log }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_logs_help_or_answers() {
    let mut redis = ThrowawayRedis::start_with_password(REDIS_PASSWORD);
    let database = TestDatabase::create().await;
    let db_user = format!("leak_{}", &unique_suffix()[..8]);
    let mut admin = MySqlConnection::connect(&mysql_admin_url()).await.unwrap();
    sqlx::raw_sql(&format!(
        "CREATE USER '{db_user}'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}'; \
         GRANT ALL PRIVILEGES ON `{}`.* TO '{db_user}'@'127.0.0.1';",
        database.name()
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    let database_url = format!(
        "mysql://{db_user}:{DB_PASSWORD}@127.0.0.1:3306/{}",
        database.name()
    );

    let (queue_port, api_port) = (free_port(), free_port());
    let mut queue = start(
        "queue-service",
        queue_port,
        &[
            ("REDIS_URL", redis.url()),
            ("AUTH_DEV_SIGNIN", "true".to_owned()),
            ("APP__SCHEDULER__TICK_MS", "200".to_owned()),
        ],
    );
    let mut api = start(
        "reservation-service",
        api_port,
        &[
            ("REDIS_URL", redis.url()),
            ("DATABASE_URL", database_url.clone()),
        ],
    );
    wait_until_ready(queue_port, Duration::from_secs(30));
    wait_until_ready(api_port, Duration::from_secs(60));

    let client = reqwest::Client::new();
    let q = format!("http://127.0.0.1:{queue_port}");
    let r = format!("http://127.0.0.1:{api_port}");
    let mut bodies = String::new();
    let mut call = async |request: reqwest::RequestBuilder| -> Value {
        let response = request.send().await.unwrap();
        let text = response.text().await.unwrap();
        bodies.push_str(&text);
        bodies.push('\n');
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };

    // The operator's calls, with the right key and wrong ones.
    let config = json!({"max_active": 10, "admit_per_second": 10, "active_ttl_seconds": 600,
        "heartbeat_ttl_seconds": 60, "limits": {"issues_per_minute_per_address": 0}});
    call(
        client
            .put(format!("{q}/v1/admin/queues/leak"))
            .bearer_auth(ADMIN_KEY)
            .json(&config),
    )
    .await;
    call(
        client
            .put(format!("{q}/v1/admin/queues/leak"))
            .bearer_auth("guess")
            .json(&config),
    )
    .await;
    let now = OffsetDateTime::now_utc();
    let concert = json!({"title": "Leak check", "queue_id": "leak", "schedules": [{
        "starts_at": rfc3339(now + time::Duration::days(2)),
        "booking_opens_at": rfc3339(now - time::Duration::hours(1)),
        "booking_closes_at": rfc3339(now + time::Duration::days(1)),
        "seat_count": 5, "price": 100}]});
    let created = call(
        client
            .post(format!("{r}/v1/admin/concerts"))
            .bearer_auth(ADMIN_KEY)
            .json(&concert),
    )
    .await;
    call(
        client
            .post(format!("{r}/v1/admin/concerts"))
            .bearer_auth(TOKEN_SECRET)
            .json(&concert),
    )
    .await;
    let schedule = created["schedules"][0]["id"].as_u64().unwrap();

    // A fan's whole journey, in JWT mode.
    let signed_in = call(
        client
            .post(format!("{q}/v1/dev/sign-in"))
            .json(&json!({"user_id": "fan"})),
    )
    .await;
    let bearer = signed_in["access_token"].as_str().unwrap().to_owned();
    let joined = call(
        client
            .post(format!("{q}/v1/queues/leak/tokens"))
            .bearer_auth(&bearer),
    )
    .await;
    let token = joined["token"].as_str().unwrap().to_owned();
    call(
        client
            .post(format!("{q}/v1/queues/leak/challenges"))
            .bearer_auth(&bearer),
    )
    .await;
    eventually("the fan to be admitted", Duration::from_secs(10), || {
        let (client, q, bearer, token) = (client.clone(), q.clone(), bearer.clone(), token.clone());
        async move {
            let status: Value = client
                .post(format!("{q}/v1/queues/leak/heartbeat"))
                .bearer_auth(&bearer)
                .header("X-Queue-Token", &token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (status["status"] == "active").then_some(())
        }
    })
    .await;
    call(client.get(format!("{q}/v1/queues/leak"))).await;
    call(client.get(format!("{r}/v1/concerts"))).await;
    call(client.get(format!("{r}/v1/concerts/{}/schedules", created["id"]))).await;
    let seats = call(client.get(format!("{r}/v1/schedules/{schedule}/seats"))).await;
    let seat = seats[0]["id"].as_u64().unwrap();
    call(
        client
            .post(format!("{r}/v1/users/me/balance/charges"))
            .bearer_auth(&bearer)
            .header("Idempotency-Key", "top-up")
            .json(&json!({"amount": 500})),
    )
    .await;
    let held = call(
        client
            .post(format!("{r}/v1/reservations"))
            .bearer_auth(&bearer)
            .header("X-Queue-Token", &token)
            .json(&json!({"schedule_id": schedule, "seat_id": seat})),
    )
    .await;
    let reservation = held["reservation_id"].as_u64().unwrap();
    call(
        client
            .get(format!("{r}/v1/reservations/{reservation}"))
            .bearer_auth(&bearer),
    )
    .await;
    call(
        client
            .post(format!("{r}/v1/reservations/{reservation}/payment"))
            .bearer_auth(&bearer)
            .header("X-Queue-Token", &token)
            .header("Idempotency-Key", "pay"),
    )
    .await;
    call(
        client
            .get(format!("{r}/v1/users/me/balance"))
            .bearer_auth(&bearer),
    )
    .await;
    call(
        client
            .delete(format!("{r}/v1/reservations/{reservation}"))
            .bearer_auth(&bearer),
    )
    .await;
    call(
        client
            .delete(format!("{q}/v1/queues/leak/tokens/me"))
            .bearer_auth(&bearer)
            .header("X-Queue-Token", &token),
    )
    .await;
    // Forged and broken credentials.
    call(
        client
            .get(format!("{r}/v1/users/me/balance"))
            .bearer_auth(format!("{bearer}x")),
    )
    .await;
    call(
        client
            .get(format!("{r}/v1/users/me/balance"))
            .bearer_auth("not-a-jwt"),
    )
    .await;
    call(
        client
            .post(format!("{q}/v1/queues/leak/heartbeat"))
            .bearer_auth(&bearer)
            .header("X-Queue-Token", "v1.forged.tag"),
    )
    .await;
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        call(client.get(format!("{q}{path}"))).await;
        call(client.get(format!("{r}{path}"))).await;
    }
    // An outage: every store error gets logged somewhere.
    redis.stop();
    call(
        client
            .post(format!("{q}/v1/queues/leak/tokens"))
            .bearer_auth(&bearer),
    )
    .await;
    call(client.get(format!("{q}/readyz"))).await;
    call(client.get(format!("{r}/readyz"))).await;
    call(
        client
            .post(format!("{r}/v1/reservations"))
            .bearer_auth(&bearer)
            .header("X-Queue-Token", &token)
            .json(&json!({"schedule_id": schedule, "seat_id": seat})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    redis.restart();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    call(
        client
            .delete(format!("{q}/v1/admin/queues/leak"))
            .bearer_auth(ADMIN_KEY),
    )
    .await;

    for service in [&mut queue, &mut api] {
        let _ = Command::new("kill")
            .args(["-TERM", &service.child.id().to_string()])
            .status();
        let _ = service.child.wait();
    }
    let mut output = String::new();
    for service in [&queue, &api] {
        output.push_str(&std::fs::read_to_string(&service.log).unwrap());
        let _ = std::fs::remove_file(&service.log);
    }
    for name in ["queue-service", "reservation-service"] {
        let help = Command::new(service_binary(name))
            .arg("--help")
            .output()
            .unwrap();
        output.push_str(&String::from_utf8_lossy(&help.stdout));
        output.push_str(&String::from_utf8_lossy(&help.stderr));
    }
    sqlx::raw_sql(&format!("DROP USER '{db_user}'@'127.0.0.1'"))
        .execute(&mut admin)
        .await
        .unwrap();

    let lines = output.lines().count();
    eprintln!(
        "secrets: {lines} lines of trace logs and help, {} bytes of answers searched for {} secrets",
        bodies.len(),
        SECRETS.len()
    );
    assert!(lines > 50, "the services logged ({lines} lines)");
    assert!(output.contains("DEBUG"), "debug lines were written");
    for secret in SECRETS {
        let leaked: Vec<&str> = output
            .lines()
            .filter(|l| l.contains(secret))
            .take(3)
            .collect();
        assert!(
            leaked.is_empty(),
            "a secret leaked into the logs: {leaked:#?}"
        );
        assert!(!bodies.contains(secret), "a secret leaked into an answer");
    }
    // The bearer token is a credential too.
    assert!(
        !output.contains(&bearer),
        "a bearer token leaked into the logs"
    );
}
