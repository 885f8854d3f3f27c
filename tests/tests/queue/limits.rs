//! Abuse limits: new places per client address and per user, heartbeats
//! sooner than advised, a full line, and the proof of work. All kept in
//! Redis, so they hold across replicas.

use queue_service::domain::{AbuseLimits, QueueConfig};
use queue_service::pow;
use serde_json::Value;
use shared::ids::QueueId;
use tests::assert_problem;
use tests::queue_app::{QueueAppOptions, TestQueueApp, queue_config, spawn_queue_app};

fn limited(limits: AbuseLimits) -> QueueConfig {
    QueueConfig {
        limits,
        ..queue_config(5, 1, 600, 60)
    }
}

fn off() -> AbuseLimits {
    tests::load::fixtures::NO_LIMITS
}

/// An app behind a trusted proxy (the test client, 127.0.0.1), so each
/// request can say which client address it stands for.
async fn behind_proxy() -> TestQueueApp {
    spawn_queue_app(QueueAppOptions {
        trusted_proxies: "127.0.0.1/32".to_owned(),
        ..QueueAppOptions::without_scheduler()
    })
    .await
}

async fn join_from(
    app: &TestQueueApp,
    queue: &QueueId,
    user: &str,
    forwarded_for: &str,
) -> reqwest::Response {
    app.as_user(
        app.client
            .post(app.url(&format!("/v1/queues/{queue}/tokens")))
            .header("X-Forwarded-For", forwarded_for),
        user,
    )
    .send()
    .await
    .unwrap()
}

fn refusals(metrics: &str, queue: &QueueId, reason: &str) -> u64 {
    let prefix = format!("queue_refused_total{{queue=\"{queue}\",reason=\"{reason}\"");
    metrics
        .lines()
        .find(|line| line.starts_with(&prefix))
        .and_then(|line| line.rsplit(' ').next())
        .map_or(0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn one_address_gets_its_burst_then_429_with_retry_after_while_others_still_join() {
    let app = behind_proxy().await;
    let queue = app
        .create_queue(
            "addr",
            limited(AbuseLimits {
                issues_per_minute_per_address: 6,
                issue_burst_per_address: 3,
                ..off()
            }),
        )
        .await;
    for i in 0..3 {
        let response = join_from(&app, &queue, &format!("bot{i}"), "198.51.100.66").await;
        assert_eq!(response.status(), 201, "burst place {i}");
    }
    let refused = join_from(&app, &queue, "bot3", "198.51.100.66").await;
    let retry_after: u64 = refused.headers()["Retry-After"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    assert_problem(refused, 429, "RATE_LIMITED").await;
    // A client that says it is someone else, behind the address it really
    // comes from, is still counted as that address.
    let spoofed = join_from(&app, &queue, "bot4", "203.0.113.1, 198.51.100.66").await;
    assert_problem(spoofed, 429, "RATE_LIMITED").await;
    // A different client is unaffected, and asking again for a place one
    // already has costs nothing.
    assert_eq!(
        join_from(&app, &queue, "fan", "198.51.100.7")
            .await
            .status(),
        201
    );
    assert_eq!(
        join_from(&app, &queue, "bot0", "198.51.100.66")
            .await
            .status(),
        200
    );
    assert_eq!(
        app.stats(&queue).await["waiting"],
        4,
        "the line was not touched by refusals"
    );
    let metrics = app.metrics_text().await;
    assert_eq!(refusals(&metrics, &queue, "issue_address_limit"), 2);
}

#[tokio::test]
async fn without_a_trusted_proxy_x_forwarded_for_changes_nothing() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app
        .create_queue(
            "untrusted",
            limited(AbuseLimits {
                issues_per_minute_per_address: 1,
                issue_burst_per_address: 1,
                ..off()
            }),
        )
        .await;
    assert_eq!(join_from(&app, &queue, "a", "10.0.0.1").await.status(), 201);
    // The peer (127.0.0.1) is the address, whatever the header claims.
    assert_problem(
        join_from(&app, &queue, "b", "10.0.0.2").await,
        429,
        "RATE_LIMITED",
    )
    .await;
}

#[tokio::test]
async fn one_user_leaving_and_rejoining_is_held_to_the_user_limit() {
    let app = behind_proxy().await;
    let queue = app
        .create_queue(
            "user",
            limited(AbuseLimits {
                issues_per_minute_per_user: 2,
                issue_burst_per_user: 2,
                ..off()
            }),
        )
        .await;
    for round in 0..2 {
        let response = join_from(&app, &queue, "flipper", &format!("192.0.2.{round}")).await;
        assert_eq!(response.status(), 201);
        let token: Value = response.json().await.unwrap();
        let left = app
            .leave(&queue, "flipper", token["token"].as_str().unwrap())
            .await;
        assert_eq!(left.status(), 204);
    }
    assert_problem(
        join_from(&app, &queue, "flipper", "192.0.2.99").await,
        429,
        "RATE_LIMITED",
    )
    .await;
    let metrics = app.metrics_text().await;
    assert_eq!(refusals(&metrics, &queue, "issue_user_limit"), 1);
}

#[tokio::test]
async fn heartbeats_much_sooner_than_advised_are_refused_and_obedient_ones_are_not() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    // Ten users ahead of a slow line: the last is told to wait seconds.
    let queue = app
        .create_queue(
            "pace",
            QueueConfig {
                limits: AbuseLimits {
                    min_poll_interval_percent: 50,
                    ..off()
                },
                // Polls at most every 2 s (a third of the TTL).
                ..queue_config(5, 1, 600, 6)
            },
        )
        .await;
    let mut last = Value::Null;
    for i in 0..40 {
        last = app.join(&queue, &format!("u{i}")).await;
    }
    let token = last["token"].as_str().unwrap().to_owned();
    let advised = last["poll_after_ms"].as_u64().unwrap();
    assert!(advised >= 1_500, "{last}");
    let early = app.heartbeat(&queue, "u39", &token).await;
    let retry_after: u64 = early.headers()["Retry-After"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        retry_after >= 1 && retry_after * 1000 <= advised,
        "{retry_after}"
    );
    assert_problem(early, 429, "RATE_LIMITED").await;
    tokio::time::sleep(std::time::Duration::from_millis(advised / 2 + 50)).await;
    assert_eq!(app.heartbeat(&queue, "u39", &token).await.status(), 200);
    let metrics = app.metrics_text().await;
    assert_eq!(refusals(&metrics, &queue, "early_heartbeat"), 1);
}

#[tokio::test]
async fn a_full_line_refuses_newcomers_without_touching_the_line() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app
        .create_queue(
            "full",
            QueueConfig {
                max_waiting: Some(3),
                ..limited(off())
            },
        )
        .await;
    for i in 0..3 {
        app.join(&queue, &format!("w{i}")).await;
    }
    let full = app.issue(&queue, "late").await;
    assert_eq!(full.headers()["Retry-After"], "30");
    assert_problem(full, 503, "QUEUE_FULL").await;
    assert_eq!(
        app.issue(&queue, "w1").await.status(),
        200,
        "existing places still answer"
    );
    assert_eq!(app.stats(&queue).await["waiting"], 3);
}

#[tokio::test]
async fn proof_of_work_is_required_checked_and_single_use() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app
        .create_queue(
            "pow",
            QueueConfig {
                pow_difficulty_bits: 12,
                ..limited(off())
            },
        )
        .await;
    let body = assert_problem(app.issue(&queue, "gina").await, 403, "POW_REQUIRED").await;
    assert!(
        body["detail"].as_str().unwrap().contains("12 bits"),
        "{body}"
    );

    let challenge = |user: &str| {
        app.as_user(
            app.client
                .post(app.url(&format!("/v1/queues/{queue}/challenges"))),
            user,
        )
        .send()
    };
    let issued: Value = challenge("gina").await.unwrap().json().await.unwrap();
    assert_eq!(issued["difficulty_bits"], 12);
    let text = issued["challenge"].as_str().unwrap().to_owned();
    let solution = pow::solve(&text, 12);
    let join = |user: &str, challenge: &str, solution: &str| {
        app.as_user(
            app.client
                .post(app.url(&format!("/v1/queues/{queue}/tokens")))
                .header("X-Pow-Challenge", challenge)
                .header("X-Pow-Solution", solution),
            user,
        )
        .send()
    };
    // Someone else's solved challenge proves nothing for Hank.
    assert_problem(
        join("hank", &text, &solution).await.unwrap(),
        403,
        "POW_INVALID",
    )
    .await;
    let wrong = (0..100)
        .map(|n| n.to_string())
        .find(|s| *s != solution)
        .unwrap();
    let unsolved = join("gina", &text, &wrong).await.unwrap();
    // A random guess meets 12 bits once in 4096 tries.
    assert_eq!(unsolved.status(), 403);
    assert_eq!(join("gina", &text, &solution).await.unwrap().status(), 201);
    // Gina leaves and tries to use the same work again.
    let status: Value = app.join(&queue, "gina").await;
    app.leave(&queue, "gina", status["token"].as_str().unwrap())
        .await;
    assert_problem(
        join("gina", &text, &solution).await.unwrap(),
        403,
        "POW_REUSED",
    )
    .await;
    let tampered = format!("{text}x");
    assert_problem(
        join("gina", &tampered, &solution).await.unwrap(),
        403,
        "POW_INVALID",
    )
    .await;
}
