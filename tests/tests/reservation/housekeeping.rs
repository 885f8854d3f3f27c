//! What keeps the service's storage bounded: idempotency records purged
//! after their retention, the concert listing paged.

use std::time::Duration;

use serde_json::{Value, json};
use tests::reservation_app::{ReservationAppOptions, spawn_reservation_app_with};
use tests::{assert_problem, eventually};

#[tokio::test]
async fn idempotency_records_past_their_retention_are_purged_and_never_charge_twice() {
    let app = spawn_reservation_app_with(ReservationAppOptions {
        idempotency_retention_hours: 24,
        ..ReservationAppOptions::default()
    })
    .await;
    assert_eq!(app.charge("ivy", "old", json!(700)).await.status(), 200);
    assert_eq!(app.charge("ivy", "recent", json!(300)).await.status(), 200);
    // The first was made two days ago (set in the past rather than waited for).
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = NOW(3) - INTERVAL 2 DAY WHERE idem_key = 'old'",
    )
    .execute(&app.db_pool)
    .await
    .unwrap();
    eventually("the purge to run", Duration::from_secs(5), || async {
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys")
            .fetch_one(&app.db_pool)
            .await
            .unwrap();
        (left == 1).then_some(())
    })
    .await;
    let kept: String =
        sqlx::query_scalar("SELECT CONVERT(idem_key USING utf8mb4) FROM idempotency_keys")
            .fetch_one(&app.db_pool)
            .await
            .unwrap();
    assert_eq!(kept, "recent");

    // The purged key cannot charge again: the ledger still knows it.
    assert_problem(
        app.charge("ivy", "old", json!(700)).await,
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    assert_eq!(app.balance("ivy").await, 1_000);
    let replayed: Value = app
        .charge("ivy", "recent", json!(300))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(replayed["balance"], 1_000, "a kept record still replays");
    app.assert_invariants().await;
}

#[tokio::test]
async fn concerts_are_listed_in_pages_with_a_bounded_size() {
    let app = spawn_reservation_app_with(ReservationAppOptions::default()).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.create_open_concert(1, 100).await.id);
    }
    let page = |query: &str| {
        let url = app.url(&format!("/v1/concerts{query}"));
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let body: Vec<Value> = page(&format!("?limit=2&after={after}"))
            .await
            .json()
            .await
            .unwrap();
        seen.extend(body.iter().map(|c| c["id"].as_u64().unwrap()));
        if body.len() < 2 {
            break;
        }
        after = *seen.last().unwrap();
    }
    assert_eq!(seen, ids);
    let all: Vec<Value> = page("").await.json().await.unwrap();
    assert_eq!(all.len(), 5, "the default page holds them all");
    for bad in ["?limit=0", "?limit=501"] {
        assert_problem(page(bad).await, 400, "INVALID_REQUEST").await;
    }
    assert_problem(page("?after=-1").await, 400, "INVALID_REQUEST").await;
    assert_problem(page("?after=x").await, 400, "INVALID_QUERY").await;
}
