use std::collections::BTreeMap;

use serde_json::{Value, json};
use tests::assert_problem;
use tests::reservation_app::spawn_reservation_app;

use crate::all_at_once;

#[tokio::test]
async fn balance_is_zero_before_any_charge() {
    let app = spawn_reservation_app().await;
    let body: Value = app
        .client
        .get(app.url("/v1/users/me/balance"))
        .header("X-User-Id", "newcomer")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({ "user_id": "newcomer", "balance": 0 }));
}

#[tokio::test]
async fn a_charge_adds_to_the_balance_and_its_retry_is_replayed_not_applied() {
    let app = spawn_reservation_app().await;
    let first = app.charge("alice", "c1", json!(1_500)).await;
    assert_eq!(first.status().as_u16(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first, json!({ "user_id": "alice", "balance": 1_500 }));

    let second: Value = app
        .charge("alice", "c2", json!(500))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["balance"], 2_000);
    let retry = app.charge("alice", "c1", json!(1_500)).await;
    assert_eq!(retry.status().as_u16(), 200);
    assert_eq!(
        retry.json::<Value>().await.unwrap(),
        first,
        "the first answer, replayed"
    );
    assert_eq!(app.balance("alice").await, 2_000);

    // Keys are per user: bob's "c1" is his own.
    let bobs: Value = app
        .charge("bob", "c1", json!(7))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bobs, json!({ "user_id": "bob", "balance": 7 }));
    app.assert_invariants().await;
}

#[tokio::test]
async fn reusing_a_charge_key_for_another_amount_is_422() {
    let app = spawn_reservation_app().await;
    assert_eq!(
        app.charge("alice", "c1", json!(100))
            .await
            .status()
            .as_u16(),
        200
    );
    assert_problem(
        app.charge("alice", "c1", json!(101)).await,
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    assert_eq!(app.balance("alice").await, 100);
}

#[tokio::test]
async fn absurd_amounts_are_400_invalid_amount() {
    let app = spawn_reservation_app().await;
    for amount in [
        json!(0),
        json!(-5),
        json!(10_000_001),
        json!(1.5),
        json!(1e8),
        json!(u64::MAX),
    ] {
        let response = app.charge("alice", "k", amount.clone()).await;
        let body = assert_problem(response, 400, "INVALID_AMOUNT").await;
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("between 1 and 10000000"),
            "{amount}: {body}"
        );
    }
    // Not a number at all: still a 400 problem, from the JSON parser.
    for amount in [json!("100"), json!(null), json!([1])] {
        assert_problem(
            app.charge("alice", "k", amount).await,
            400,
            "MALFORMED_JSON",
        )
        .await;
    }
    assert_eq!(app.balance("alice").await, 0);
    // The maximum itself is fine.
    assert_eq!(
        app.charge("alice", "k", json!(10_000_000))
            .await
            .status()
            .as_u16(),
        200
    );
}

/// Twenty keys, each sent five times at once, with different amounts per
/// key: every key applies exactly once and its five answers agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_charges_with_repeated_keys_apply_each_key_once() {
    const KEYS: usize = 20;
    const COPIES: usize = 5;
    let app = spawn_reservation_app().await;
    let amount = |key: usize| 100 + key as i64;

    let answers = all_at_once(KEYS * COPIES, |i| {
        let key = i % KEYS;
        let client = app.client.clone();
        let url = app.url("/v1/users/me/balance/charges");
        async move {
            let response = client
                .post(url)
                .header("X-User-Id", "alice")
                .header("Idempotency-Key", format!("charge-{key}"))
                .json(&json!({ "amount": amount(key) }))
                .send()
                .await
                .expect("charge request");
            (
                key,
                response.status().as_u16(),
                response.text().await.unwrap(),
            )
        }
    })
    .await;

    let mut by_key: BTreeMap<usize, Vec<(u16, String)>> = BTreeMap::new();
    for (key, status, body) in answers {
        by_key.entry(key).or_default().push((status, body));
    }
    for (key, replies) in &by_key {
        assert_eq!(replies.len(), COPIES);
        assert!(replies.iter().all(|r| r.0 == 200), "key {key}: {replies:?}");
        assert!(
            replies.iter().all(|r| r == &replies[0]),
            "key {key} answers differ: {replies:?}"
        );
    }
    let expected: i64 = (0..KEYS).map(amount).sum();
    assert_eq!(app.balance("alice").await, expected);
    let ledger_rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM balance_ledger")
        .fetch_one(&app.db_pool)
        .await
        .unwrap();
    assert_eq!(ledger_rows, KEYS as i64);
    app.assert_invariants().await;
}
