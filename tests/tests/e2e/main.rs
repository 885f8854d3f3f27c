//! One sale end to end, over HTTP, across both running services sharing
//! one Redis: join the line, get promoted, hold, pay; the payment completes
//! the token and the next user in line is promoted.

mod sale;

use std::time::Duration;

use serde_json::Value;
use tests::queue_app::{QueueAppOptions, TestQueueApp, queue_config, spawn_queue_app};
use tests::reservation_app::{ReservationAppOptions, spawn_reservation_app_with};
use tests::{assert_problem, eventually};

async fn wait_until_active(
    app: &TestQueueApp,
    queue: &shared::ids::QueueId,
    user: &str,
    token: &str,
) {
    eventually(
        &format!("{user} promoted"),
        Duration::from_secs(10),
        || async {
            let status: Value = app
                .heartbeat(queue, user, token)
                .await
                .json()
                .await
                .unwrap();
            (status["status"] == "active").then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_paid_purchase_completes_the_token_and_admits_the_next_in_line() {
    let queue_options = QueueAppOptions::default();
    let key_prefix = queue_options.key_prefix.clone();
    let queue_app = spawn_queue_app(queue_options).await;
    let shop = spawn_reservation_app_with(ReservationAppOptions {
        redis_key_prefix: key_prefix,
        ..Default::default()
    })
    .await;

    // One shopper at a time.
    let queue = queue_app
        .create_queue("e2e", queue_config(1, 10, 600, 60))
        .await;
    let concert = shop.create_open_concert_in(&queue, 5, 1_500).await;
    let schedule = concert.schedules[0].id;
    let seats = shop.seat_ids(schedule).await;

    let alice = queue_app.join(&queue, "alice").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob = queue_app.join(&queue, "bob").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_until_active(&queue_app, &queue, "alice", &alice).await;

    // Bob is still waiting: the reservation service turns him away.
    assert_problem(
        shop.hold("bob", &bob, schedule, seats[0]).await,
        403,
        "TOKEN_NOT_ACTIVE",
    )
    .await;
    let bob_waiting: Value = queue_app
        .heartbeat(&queue, "bob", &bob)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bob_waiting["status"], "waiting");
    assert_eq!(bob_waiting["position"], 1);

    shop.charge_ok("alice", 2_000).await;
    let hold = shop.hold("alice", &alice, schedule, seats[0]).await;
    assert_eq!(hold.status(), 201);
    let hold: Value = hold.json().await.unwrap();
    let paid = shop
        .pay(
            "alice",
            &alice,
            hold["reservation_id"].as_u64().unwrap(),
            "alice-pays-once",
        )
        .await;
    assert_eq!(paid.status(), 200);
    let paid: Value = paid.json().await.unwrap();
    assert_eq!(paid["status"], "confirmed");
    assert_eq!(paid["balance"], 500);

    // The payment completed Alice's token: her slot is free at once ...
    assert_problem(
        queue_app.heartbeat(&queue, "alice", &alice).await,
        410,
        "TOKEN_EXPIRED",
    )
    .await;
    // ... and the next tick admits Bob, who finds Alice's seat sold.
    wait_until_active(&queue_app, &queue, "bob", &bob).await;
    assert_problem(
        shop.hold("bob", &bob, schedule, seats[0]).await,
        409,
        "SEAT_UNAVAILABLE",
    )
    .await;
    assert_eq!(
        shop.hold("bob", &bob, schedule, seats[1]).await.status(),
        201
    );

    let stats = queue_app.stats(&queue).await;
    assert_eq!(stats["active"], 1);
    assert_eq!(stats["waiting"], 0);
    shop.assert_invariants().await;
}
