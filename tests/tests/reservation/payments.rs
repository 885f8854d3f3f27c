use std::collections::BTreeMap;

use reservation_service::domain::ids::ReservationId;
use reservation_service::storage;
use reservation_service::storage::payments::{PaymentOutcome, PaymentRequest};
use serde_json::Value;
use shared::ids::{QueueId, UserId};
use shared::queue::{Admission, touch_active};
use tests::assert_problem;
use tests::reservation_app::spawn_reservation_app;
use tests::unique_suffix;

use crate::all_at_once;

#[tokio::test]
async fn paying_a_hold_confirms_it_debits_the_balance_and_completes_the_token() {
    let app = spawn_reservation_app().await;
    let concert = app.create_open_concert(3, 3_000).await;
    let schedule = concert.schedules[0].id;
    let seats = app.seat_ids(schedule).await;
    let token = app.activate("alice").await;
    app.charge_ok("alice", 10_000).await;
    let reservation = app.hold_ok("alice", &token, schedule, seats[0]).await;

    let response = app.pay("alice", &token, reservation, "pay-1").await;
    assert_eq!(response.status().as_u16(), 200);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["reservation_id"], reservation);
    assert_eq!(receipt["amount"], 3_000);
    assert_eq!(receipt["balance"], 7_000);
    assert_eq!(receipt["status"], "confirmed");
    assert!(receipt["payment_id"].as_u64().unwrap() > 0);

    assert_eq!(app.balance("alice").await, 7_000);
    let body: Value = app
        .get_reservation("alice", reservation)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "confirmed");
    assert_eq!(app.seats(schedule, "?status=sold").await.len(), 1);

    // The token's active slot is freed at once: the next gated call is refused.
    let ticket = app.codec.decode(&token).unwrap();
    assert_eq!(
        touch_active(&app.redis_pool, &ticket).await.unwrap(),
        Admission::NotActive
    );
    assert_problem(
        app.hold("alice", &token, schedule, seats[1]).await,
        403,
        "TOKEN_NOT_ACTIVE",
    )
    .await;
    // But the payment's retry still gets its answer.
    let replay: Value = app
        .pay("alice", &token, reservation, "pay-1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(replay, receipt);
    app.assert_invariants().await;
}

/// The payment committed but its request was cut off before completing the
/// token (the client saw an error and retries): the retry's replayed answer
/// frees the slot.
#[tokio::test]
async fn a_replayed_payment_completes_a_token_the_first_request_left_active() {
    let app = spawn_reservation_app().await;
    let (schedule, seat) = app.one_open_seat(2_000).await;
    let token = app.activate("alice").await;
    app.charge_ok("alice", 2_000).await;
    let reservation = app.hold_ok("alice", &token, schedule, seat).await;
    let user = UserId::parse("alice").unwrap();
    let committed = storage::payments::pay(
        &app.db_pool,
        &PaymentRequest {
            user: &user,
            reservation_id: ReservationId::new(reservation).unwrap(),
            idempotency_key: "pay-1",
        },
        |_| unreachable!("this payment is covered"),
    )
    .await
    .unwrap();
    assert!(
        matches!(committed, PaymentOutcome::Paid(_)),
        "{committed:?}"
    );
    let ticket = app.codec.decode(&token).unwrap();
    assert!(matches!(
        touch_active(&app.redis_pool, &ticket).await.unwrap(),
        Admission::Active { .. }
    ));

    let retry = app.pay("alice", &token, reservation, "pay-1").await;
    assert_eq!(retry.status().as_u16(), 200);
    assert_eq!(retry.json::<Value>().await.unwrap()["status"], "confirmed");
    assert_eq!(
        touch_active(&app.redis_pool, &ticket).await.unwrap(),
        Admission::NotActive
    );
    app.assert_invariants().await;
}

#[tokio::test]
async fn a_402_is_stored_under_its_key_and_a_new_key_pays_after_a_top_up() {
    let app = spawn_reservation_app().await;
    let (schedule, seat) = app.one_open_seat(5_000).await;
    let token = app.activate("alice").await;
    app.charge_ok("alice", 4_999).await;
    let reservation = app.hold_ok("alice", &token, schedule, seat).await;

    assert_problem(
        app.pay("alice", &token, reservation, "k1").await,
        402,
        "INSUFFICIENT_BALANCE",
    )
    .await;
    assert_eq!(app.balance("alice").await, 4_999);
    let seats = app.seats(schedule, "").await;
    assert_eq!(
        seats[0].status, "held",
        "the failed payment left the hold alone"
    );

    app.charge_ok("alice", 1).await;
    // The key stands for the decision it got: a retry with it is answered
    // the same way, whatever changed since.
    assert_problem(
        app.pay("alice", &token, reservation, "k1").await,
        402,
        "INSUFFICIENT_BALANCE",
    )
    .await;
    let paid = app.pay("alice", &token, reservation, "k2").await;
    assert_eq!(paid.status().as_u16(), 200);
    assert_eq!(app.balance("alice").await, 0);
    app.assert_invariants().await;
}

#[tokio::test]
async fn a_409_is_stored_under_its_key_and_replayed_as_such() {
    let app = spawn_reservation_app().await;
    let (schedule, seat) = app.one_open_seat(1_000).await;
    let token = app.activate("bob").await;
    app.charge_ok("bob", 5_000).await;
    let reservation = app.hold_ok("bob", &token, schedule, seat).await;
    // The hold runs out (set in the past rather than waited for), on the
    // seat and its reservation alike.
    sqlx::query(
        "UPDATE seats s JOIN reservations r ON r.seat_id = s.id \
            SET s.hold_expires_at = '2020-01-01 00:00:00', r.hold_expires_at = '2020-01-01 00:00:00' \
          WHERE r.id = ?",
    )
    .bind(reservation)
    .execute(&app.db_pool)
    .await
    .unwrap();
    for _ in 0..2 {
        let body = assert_problem(
            app.pay("bob", &token, reservation, "late").await,
            409,
            "HOLD_EXPIRED",
        )
        .await;
        assert!(
            body["detail"].as_str().unwrap().contains("expired"),
            "{body}"
        );
    }
    let stored: (u16,) = sqlx::query_as(
        "SELECT response_status FROM idempotency_keys WHERE user_id = 'bob' AND idem_key = 'late'",
    )
    .fetch_one(&app.db_pool)
    .await
    .unwrap();
    assert_eq!(stored.0, 409);
    assert_eq!(app.balance("bob").await, 5_000, "nothing moved");
    app.assert_invariants().await;
}

#[tokio::test]
async fn a_confirmed_reservation_cannot_be_paid_again_or_released() {
    let app = spawn_reservation_app().await;
    let first_queue = app.queue_id.clone();
    let other_queue = QueueId::parse(&format!("rq-{}", unique_suffix())).unwrap();
    let concert = app.create_open_concert_in(&first_queue, 1, 1_000).await;
    let schedule = concert.schedules[0].id;
    let seat = app.seat_ids(schedule).await[0];
    let token = app.activate("alice").await;
    app.charge_ok("alice", 5_000).await;
    let reservation = app.hold_ok("alice", &token, schedule, seat).await;
    assert_eq!(
        app.pay("alice", &token, reservation, "k1")
            .await
            .status()
            .as_u16(),
        200
    );

    // A fresh admission to the same queue, paying again under a new key.
    let again = app.activate_in(&first_queue, "alice").await;
    assert_problem(
        app.pay("alice", &again, reservation, "k2").await,
        409,
        "RESERVATION_ALREADY_CONFIRMED",
    )
    .await;
    assert_problem(
        app.release("alice", reservation).await,
        409,
        "RESERVATION_ALREADY_CONFIRMED",
    )
    .await;
    // A token of another queue is not valid for this concert at all.
    let foreign = app.activate_in(&other_queue, "alice").await;
    assert_problem(
        app.pay("alice", &foreign, reservation, "k3").await,
        401,
        "TOKEN_INVALID",
    )
    .await;
    assert_eq!(app.balance("alice").await, 4_000);
    app.assert_invariants().await;
}

#[tokio::test]
async fn reusing_an_idempotency_key_for_another_request_is_422() {
    let app = spawn_reservation_app().await;
    let concert = app.create_open_concert(2, 1_000).await;
    let schedule = concert.schedules[0].id;
    let seats = app.seat_ids(schedule).await;
    let token = app.activate("alice").await;
    app.charge_ok("alice", 5_000).await;
    let first = app.hold_ok("alice", &token, schedule, seats[0]).await;
    let second = app.hold_ok("alice", &token, schedule, seats[1]).await;
    assert_eq!(
        app.pay("alice", &token, first, "same")
            .await
            .status()
            .as_u16(),
        200
    );

    let token = app.activate("alice").await;
    assert_problem(
        app.pay("alice", &token, second, "same").await,
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    // The key belongs to the payment now; a charge cannot reuse it either.
    assert_problem(
        app.charge("alice", "same", serde_json::json!(10)).await,
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    assert_eq!(app.balance("alice").await, 4_000);
}

/// One user holds a seat in each of eight concerts (eight queues, so all
/// eight tokens are active at once and every payment passes the gate) but
/// can afford only three. Paying all eight at once must take exactly three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_payments_of_one_user_never_overdraw() {
    const CONCERTS: usize = 8;
    const PRICE: i64 = 3_000;
    let app = spawn_reservation_app().await;
    app.charge_ok("alice", 3 * PRICE + 500).await;

    let mut attempts = Vec::new();
    for _ in 0..CONCERTS {
        let queue = QueueId::parse(&format!("rq-{}", unique_suffix())).unwrap();
        let concert = app.create_open_concert_in(&queue, 1, PRICE).await;
        let schedule = concert.schedules[0].id;
        let seat = app.seat_ids(schedule).await[0];
        let token = app.activate_in(&queue, "alice").await;
        let reservation = app.hold_ok("alice", &token, schedule, seat).await;
        attempts.push((token, reservation));
    }

    let answers = all_at_once(CONCERTS, |i| {
        let (token, reservation) = attempts[i].clone();
        let client = app.client.clone();
        let url = app.url(&format!("/v1/reservations/{reservation}/payment"));
        async move {
            let response = client
                .post(url)
                .header("X-User-Id", "alice")
                .header("X-Queue-Token", token)
                .header("Idempotency-Key", format!("pay-{i}"))
                .send()
                .await
                .expect("payment request");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body["code"].as_str().unwrap_or_default().to_owned())
        }
    })
    .await;

    let mut tally: BTreeMap<(u16, String), usize> = BTreeMap::new();
    for answer in answers {
        *tally.entry(answer).or_default() += 1;
    }
    assert_eq!(
        tally,
        BTreeMap::from([
            ((200, String::new()), 3),
            ((402, "INSUFFICIENT_BALANCE".to_owned()), CONCERTS - 3),
        ])
    );
    assert_eq!(app.balance("alice").await, 500);
    app.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_simultaneous_retries_of_one_payment_charge_once_and_agree() {
    let app = spawn_reservation_app().await;
    let (schedule, seat) = app.one_open_seat(2_500).await;
    let token = app.activate("alice").await;
    app.charge_ok("alice", 10_000).await;
    let reservation = app.hold_ok("alice", &token, schedule, seat).await;

    let answers = all_at_once(100, |_| {
        let client = app.client.clone();
        let url = app.url(&format!("/v1/reservations/{reservation}/payment"));
        let token = token.clone();
        async move {
            let response = client
                .post(url)
                .header("X-User-Id", "alice")
                .header("X-Queue-Token", token)
                .header("Idempotency-Key", "the-one-payment")
                .send()
                .await
                .expect("payment request");
            (response.status().as_u16(), response.text().await.unwrap())
        }
    })
    .await;

    let first = &answers[0];
    assert_eq!(first.0, 200, "{}", first.1);
    assert!(
        answers.iter().all(|answer| answer == first),
        "answers differ: {:?}",
        answers
            .iter()
            .filter(|a| *a != first)
            .take(3)
            .collect::<Vec<_>>()
    );
    assert_eq!(app.balance("alice").await, 7_500);
    let payments: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payments")
        .fetch_one(&app.db_pool)
        .await
        .unwrap();
    assert_eq!(payments, 1);
    app.assert_invariants().await;
}

/// The turn ended (the slot ran out, or the queue let the user go) while a
/// seat was held: the hold, not the turn, says how long the seat is
/// payable, so the holder can still pay for it; but an ended turn takes no
/// new holds.
#[tokio::test]
async fn a_seat_held_during_the_turn_stays_payable_after_the_turn_ends() {
    let app = spawn_reservation_app().await;
    let schedule = app.create_open_concert(2, 1_000).await.schedules[0].id;
    let [seat, other_seat] = app.seat_ids(schedule).await[..] else {
        panic!("two seats");
    };
    let token = app.activate("alice").await;
    app.charge_ok("alice", 5_000).await;
    let reservation = app.hold_ok("alice", &token, schedule, seat).await;

    let ticket = app.codec.decode(&token).unwrap();
    assert!(
        shared::queue::complete(&app.redis_pool, &ticket)
            .await
            .unwrap()
    );
    assert_problem(
        app.hold("alice", &token, schedule, other_seat).await,
        403,
        "TOKEN_NOT_ACTIVE",
    )
    .await;
    // Someone else's token for the same queue pays nothing of alice's.
    let bob = app.activate("bob").await;
    assert_eq!(app.pay("bob", &bob, reservation, "k").await.status(), 404);

    let paid = app.pay("alice", &token, reservation, "k").await;
    assert_eq!(paid.status().as_u16(), 200);
    assert_eq!(app.balance("alice").await, 4_000);
    app.assert_invariants().await;
}

/// The first of many simultaneous retries fails (the balance does not
/// cover the price) and rolls its idempotency record back; the waiting
/// twins then race for the key themselves. Every one must get the same
/// business answer, and nothing may be taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_retries_of_an_unaffordable_payment_all_get_402() {
    let app = spawn_reservation_app().await;
    let (schedule, seat) = app.one_open_seat(2_500).await;
    let token = app.activate("alice").await;
    app.charge_ok("alice", 1_000).await;
    let reservation = app.hold_ok("alice", &token, schedule, seat).await;

    let answers = all_at_once(50, |_| {
        let client = app.client.clone();
        let url = app.url(&format!("/v1/reservations/{reservation}/payment"));
        let token = token.clone();
        async move {
            let response = client
                .post(url)
                .header("X-User-Id", "alice")
                .header("X-Queue-Token", token)
                .header("Idempotency-Key", "too-dear")
                .send()
                .await
                .expect("payment request");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body["code"].as_str().unwrap_or_default().to_owned())
        }
    })
    .await;

    let mut tally: BTreeMap<(u16, String), usize> = BTreeMap::new();
    for answer in answers {
        *tally.entry(answer).or_default() += 1;
    }
    assert_eq!(
        tally,
        BTreeMap::from([((402, "INSUFFICIENT_BALANCE".to_owned()), 50)])
    );
    assert_eq!(app.balance("alice").await, 1_000);
    app.assert_invariants().await;
}
