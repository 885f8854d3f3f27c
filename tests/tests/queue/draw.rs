//! The opening draw, checked as an outsider would: the commitment is
//! published before anyone joins, the seed after the opening, and the line
//! follows HMAC-SHA256(seed, user id) computed here independently.

use deadpool_redis::redis;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tests::queue_app::{QueueAppOptions, line_up, queue_config, spawn_queue_app};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const ENTRANTS: usize = 10_000;
const LATER: usize = 200;

fn at(offset_seconds: i64) -> String {
    (OffsetDateTime::now_utc() + time::Duration::seconds(offset_seconds))
        .format(&Rfc3339)
        .unwrap()
}

fn draw_key(seed: &[u8], user: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(seed).unwrap();
    mac.update(user.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The published order: the key's first 52 bits, ties by user id.
fn draw_order(seed: &[u8], users: &[String]) -> Vec<String> {
    let mut keyed: Vec<(u64, &String)> = users
        .iter()
        .map(|user| {
            let key = draw_key(seed, user);
            (u64::from_be_bytes(key[..8].try_into().unwrap()) >> 12, user)
        })
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, user)| user.clone()).collect()
}

/// Spearman's rank correlation of two rankings of the same n items.
fn spearman(ranks_a: &[f64], ranks_b: &[f64]) -> f64 {
    let n = ranks_a.len() as f64;
    let d2: f64 = ranks_a
        .iter()
        .zip(ranks_b)
        .map(|(a, b)| (a - b).powi(2))
        .sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

#[tokio::test]
async fn the_opening_draw_orders_the_pre_queue_by_hmac_and_puts_later_joiners_behind() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let mut config = serde_json::to_value(queue_config(50, 1_000, 600, 5)).unwrap();
    config["opens_at"] = json!(at(3_600));
    let queue = tests::queue_app::unique_queue("draw");
    app.clean_up_after(&queue);
    assert_eq!(app.put_queue(&queue, &config).await.status(), 201);

    let before: Value = app.stats(&queue).await;
    let commitment = before["draw"]["commitment"].as_str().unwrap().to_owned();
    assert_eq!(commitment.len(), 64);
    assert!(before["draw"]["seed"].is_null(), "{before}");
    assert!(before["draw"]["entrants"].is_null());

    // Joining before the opening: the pre-queue, without a position.
    let early = app.join(&queue, "draw-http-0").await;
    assert_eq!(early["status"], "pre_queue", "{early}");
    assert!(early["position"].is_null());
    assert!(early["opens_at"].is_string());
    assert!(
        early["poll_after_ms"].as_u64().unwrap() >= 60_000,
        "{early}"
    );
    let joined_in_order: Vec<String> = (0..ENTRANTS).map(|i| format!("dr{i}")).collect();
    line_up(&app.store, &queue, "dr", ENTRANTS).await;
    // Nobody is admitted, or evicted (heartbeat TTL 5 s), before the opening.
    let report = app.tick(&queue).await;
    assert_eq!((report.promoted, report.opened_with_entrants), (0, None));
    assert_eq!(report.evicted_silent_waiting, 0);

    // The opening is brought forward to now: the next step makes the draw.
    config["opens_at"] = json!(at(-1));
    assert_eq!(app.put_queue(&queue, &config).await.status(), 200);
    let report = app.tick(&queue).await;
    assert_eq!(report.opened_with_entrants, Some(ENTRANTS as u64 + 1));
    assert_eq!(report.promoted, 50);
    line_up(&app.store, &queue, "late", LATER).await;

    let after: Value = app.stats(&queue).await;
    assert_eq!(
        after["draw"]["commitment"],
        commitment.as_str(),
        "the commitment never changes"
    );
    let seed = hex::decode(after["draw"]["seed"].as_str().unwrap()).unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&seed)),
        commitment,
        "SHA-256(seed) is the commitment"
    );
    assert_eq!(after["draw"]["entrants"], ENTRANTS + 1);

    // The whole line, active and waiting, in order.
    let mut conn = app.store.pool().get().await.unwrap();
    let line: Vec<String> = redis::cmd("ZRANGE")
        .arg(app.store.keys(&queue).line())
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut entrants = joined_in_order.clone();
    entrants.push("draw-http-0".to_owned());
    let mut expected = draw_order(&seed, &entrants);
    expected.extend((0..LATER).map(|i| format!("late{i}")));
    assert_eq!(
        line, expected,
        "draw order, then later joiners in join order"
    );

    // A fan checks their own place: the first waiting user is 51st.
    let fiftyfirst = &expected[50];
    let token = app.join_token(&queue, fiftyfirst).await;
    let status: Value = app
        .heartbeat(&queue, fiftyfirst, &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (status["status"].as_str(), status["position"].as_u64()),
        (Some("waiting"), Some(1))
    );

    // The auditors' export agrees, key by key.
    let page: Value = app
        .client
        .get(app.url(&format!(
            "/v1/admin/queues/{queue}/draw?offset=100&limit=500"
        )))
        .bearer_auth(tests::TEST_ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 500);
    assert_eq!(page["next_offset"], 600);
    for (i, entry) in entries.iter().enumerate() {
        let user = entry["user_id"].as_str().unwrap();
        assert_eq!(user, expected[100 + i]);
        assert_eq!(entry["place"], 101 + i);
        assert_eq!(entry["key"], hex::encode(draw_key(&seed, user)));
    }

    // The verifier we ship agrees, entrant by entrant.
    let verifier = tokio::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/verify-draw.py"
        ))
        .args([
            app.address.as_str(),
            queue.as_str(),
            "--all",
            "--user",
            "dr0",
        ])
        .env("ADMIN_API_KEY", tests::TEST_ADMIN_KEY)
        .output()
        .await
        .expect("python3 runs");
    let said = String::from_utf8_lossy(&verifier.stdout);
    assert!(
        verifier.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&verifier.stderr)
    );
    assert!(
        said.contains(&format!("all {} entrants", ENTRANTS + 1)),
        "{said}"
    );
    assert!(
        said.contains(&hex::encode(draw_key(&seed, "dr0"))),
        "{said}"
    );

    // Join order and draw order are unrelated.
    let place: std::collections::HashMap<&str, usize> = expected
        .iter()
        .enumerate()
        .map(|(i, u)| (u.as_str(), i))
        .collect();
    let join_ranks: Vec<f64> = (0..ENTRANTS).map(|i| i as f64).collect();
    let mut draw_places: Vec<usize> = joined_in_order.iter().map(|u| place[u.as_str()]).collect();
    // Ranks among these 10,000 (the HTTP joiner is left out).
    let mut sorted = draw_places.clone();
    sorted.sort_unstable();
    let rank_of: std::collections::HashMap<usize, usize> =
        sorted.iter().enumerate().map(|(r, p)| (*p, r)).collect();
    draw_places.iter_mut().for_each(|p| *p = rank_of[p]);
    let draw_ranks: Vec<f64> = draw_places.iter().map(|&r| r as f64).collect();
    let rho = spearman(&join_ranks, &draw_ranks);
    eprintln!("draw: {ENTRANTS} entrants, Spearman rho(join order, draw order) = {rho:.4}");
    assert!(rho.abs() < 0.05, "rho = {rho}");
}

#[tokio::test]
async fn a_draw_cannot_be_exported_before_the_opening_and_leavers_leave_it() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let mut config = serde_json::to_value(queue_config(5, 10, 600, 60)).unwrap();
    config["opens_at"] = json!(at(600));
    let queue = tests::queue_app::unique_queue("draw-pending");
    app.clean_up_after(&queue);
    assert_eq!(app.put_queue(&queue, &config).await.status(), 201);
    let export = |q: String| {
        app.client
            .get(app.url(&format!("/v1/admin/queues/{q}/draw")))
            .bearer_auth(tests::TEST_ADMIN_KEY)
            .send()
    };
    let pending = export(queue.to_string()).await.unwrap();
    assert_eq!(pending.status(), 409);
    let problem: Value = pending.json().await.unwrap();
    assert_eq!(problem["code"], "DRAW_PENDING");

    let stay = app.join_token(&queue, "stayer").await;
    let leave = app.join_token(&queue, "leaver").await;
    assert_eq!(app.leave(&queue, "leaver", &leave).await.status(), 204);
    config["opens_at"] = json!(at(-1));
    app.put_queue(&queue, &config).await;
    assert_eq!(app.tick(&queue).await.opened_with_entrants, Some(1));
    let page: Value = export(queue.to_string())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["entrants"], 1);
    assert_eq!(page["entries"][0]["user_id"], "stayer");
    assert!(page["next_offset"].is_null());
    for bad in ["offset=9223372036854775808", "limit=0", "limit=10001"] {
        let refused = app
            .client
            .get(app.url(&format!("/v1/admin/queues/{queue}/draw?{bad}")))
            .bearer_auth(tests::TEST_ADMIN_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400, "{bad}");
    }
    let status: Value = app
        .heartbeat(&queue, "stayer", &stay)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "active");
}
