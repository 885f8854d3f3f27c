use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;
use tests::assert_problem;
use tests::reservation_app::{
    ReservationAppOptions, spawn_reservation_app, spawn_reservation_app_with,
};

use crate::all_at_once;

#[tokio::test]
async fn hold_returns_201_and_the_seat_then_reads_held() {
    let app = spawn_reservation_app().await;
    let concert = app.create_open_concert(10, 5_000).await;
    let schedule = concert.schedules[0].id;
    let seat = app.seat_ids(schedule).await[3];
    let token = app.activate("alice").await;

    let response = app.hold("alice", &token, schedule, seat).await;
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["seat_id"], seat);
    assert_eq!(body["status"], "held");
    assert_eq!(body["price"], 5_000);
    assert!(body["hold_expires_at"].as_str().unwrap().ends_with('Z'));
    let reservation_id = body["reservation_id"].as_u64().unwrap();

    let seats = app.seats(schedule, "").await;
    assert_eq!(seats.iter().find(|s| s.id == seat).unwrap().status, "held");
    let reservation: Value = app
        .get_reservation("alice", reservation_id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reservation["status"], "held");
    assert_eq!(reservation["schedule_id"], schedule);
    assert_eq!(reservation["hold_expires_at"], body["hold_expires_at"]);
}

#[tokio::test]
async fn hold_returns_409_when_seat_already_held() {
    let app = spawn_reservation_app().await;
    let concert = app.create_open_concert(5, 1_000).await;
    let schedule = concert.schedules[0].id;
    let seat = app.seat_ids(schedule).await[0];
    let alice = app.activate("alice").await;
    let bob = app.activate("bob").await;

    app.hold_ok("alice", &alice, schedule, seat).await;
    assert_problem(
        app.hold("bob", &bob, schedule, seat).await,
        409,
        "SEAT_UNAVAILABLE",
    )
    .await;
}

/// A retried hold (a double click, a lost answer) gets the caller's running
/// hold back instead of 409, so the caller can still pay for or release it;
/// it never makes a second reservation or moves the expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrying_a_hold_returns_the_callers_running_hold_with_200() {
    let app = spawn_reservation_app().await;
    let concert = app.create_open_concert(2, 1_000).await;
    let schedule = concert.schedules[0].id;
    let seats = app.seat_ids(schedule).await;
    let alice = app.activate("alice").await;

    let answers = all_at_once(20, |_| {
        let hold = app
            .client
            .post(app.url("/v1/reservations"))
            .header("X-User-Id", "alice")
            .header("X-Queue-Token", &alice)
            .json(&serde_json::json!({ "schedule_id": schedule, "seat_id": seats[0] }));
        async move {
            let response = hold.send().await.expect("hold request");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    })
    .await;
    let created: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    let first = created[0];
    for (status, body) in &answers {
        assert!(*status == 201 || *status == 200, "{status} {body}");
        assert_eq!(body, first, "every retry sees the one hold, unchanged");
    }
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reservations WHERE seat_id = ?")
        .bind(seats[0])
        .fetch_one(&app.db_pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);

    // Someone else still gets 409, and so does a seat alice no longer holds.
    let bob = app.activate("bob").await;
    assert_problem(
        app.hold("bob", &bob, schedule, seats[0]).await,
        409,
        "SEAT_UNAVAILABLE",
    )
    .await;
    let reservation = first["reservation_id"].as_u64().unwrap();
    assert_eq!(
        app.release("alice", reservation).await.status().as_u16(),
        204
    );
    let again = app.hold_ok("alice", &alice, schedule, seats[0]).await;
    assert_ne!(again, reservation, "a released hold is not handed back");
    app.hold_ok("bob", &bob, schedule, seats[1]).await;
    assert_problem(
        app.hold("alice", &alice, schedule, seats[1]).await,
        409,
        "SEAT_UNAVAILABLE",
    )
    .await;
    app.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_simultaneous_holds_on_one_seat_give_exactly_one_201() {
    let app = spawn_reservation_app().await;
    let concert = app.create_open_concert(3, 2_500).await;
    let schedule = concert.schedules[0].id;
    let seat = app.seat_ids(schedule).await[1];
    let users: Vec<(String, String)> = join_all_users(&app, "fan", 500).await;

    let statuses = all_at_once(users.len(), |i| {
        let (client, url) = (app.client.clone(), app.url("/v1/reservations"));
        let (user, token) = users[i].clone();
        async move {
            let response = client
                .post(url)
                .header("X-User-Id", &user)
                .header("X-Queue-Token", &token)
                .json(&serde_json::json!({ "schedule_id": schedule, "seat_id": seat }))
                .send()
                .await
                .expect("hold request");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body["code"].as_str().unwrap_or_default().to_owned())
        }
    })
    .await;

    let mut tally: BTreeMap<(u16, String), usize> = BTreeMap::new();
    for answer in statuses {
        *tally.entry(answer).or_default() += 1;
    }
    assert_eq!(
        tally,
        BTreeMap::from([
            ((201, String::new()), 1),
            ((409, "SEAT_UNAVAILABLE".to_owned()), 499)
        ]),
    );
    let holders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reservations WHERE seat_id = ?")
        .bind(seat)
        .fetch_one(&app.db_pool)
        .await
        .unwrap();
    assert_eq!(holders, 1, "exactly one reservation row for the seat");
    app.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_users_hold_two_hundred_seats_at_once() {
    let app = spawn_reservation_app().await;
    let concert = app.create_open_concert(200, 1_000).await;
    let schedule = concert.schedules[0].id;
    let seats = app.seat_ids(schedule).await;
    let users = join_all_users(&app, "buyer", 200).await;

    let statuses = all_at_once(200, |i| {
        let (client, url) = (app.client.clone(), app.url("/v1/reservations"));
        let (user, token) = users[i].clone();
        let seat = seats[i];
        async move {
            client
                .post(url)
                .header("X-User-Id", &user)
                .header("X-Queue-Token", &token)
                .json(&serde_json::json!({ "schedule_id": schedule, "seat_id": seat }))
                .send()
                .await
                .expect("hold request")
                .status()
                .as_u16()
        }
    })
    .await;

    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let held: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT holder_user_id) FROM seats WHERE status = 'HELD' AND schedule_id = ?",
    )
    .bind(schedule)
    .fetch_one(&app.db_pool)
    .await
    .unwrap();
    assert_eq!(held, 200);
    assert!(app.seats(schedule, "?status=available").await.is_empty());
    app.assert_invariants().await;
}

/// Not a benchmark: a quick figure for the report (debug or release,
/// whatever the test run was built with).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_throughput_on_distinct_seats_with_eight_clients() {
    const CLIENTS: usize = 8;
    const HOLDS_PER_CLIENT: usize = 150;
    let app = spawn_reservation_app().await;
    let concert = app
        .create_open_concert(u32::try_from(CLIENTS * HOLDS_PER_CLIENT).unwrap(), 1_000)
        .await;
    let schedule = concert.schedules[0].id;
    let seats = app.seat_ids(schedule).await;
    let users = join_all_users(&app, "rate", CLIENTS).await;

    let started = Instant::now();
    let results = all_at_once(CLIENTS, |client_index| {
        let (client, url) = (app.client.clone(), app.url("/v1/reservations"));
        let (user, token) = users[client_index].clone();
        let mine: Vec<u64> = seats
            .iter()
            .skip(client_index)
            .step_by(CLIENTS)
            .copied()
            .collect();
        async move {
            let mut created = 0;
            for seat in mine {
                let status = client
                    .post(&url)
                    .header("X-User-Id", &user)
                    .header("X-Queue-Token", &token)
                    .json(&serde_json::json!({ "schedule_id": schedule, "seat_id": seat }))
                    .send()
                    .await
                    .expect("hold request")
                    .status();
                if status.as_u16() == 201 {
                    created += 1;
                }
            }
            created
        }
    })
    .await;
    let elapsed = started.elapsed();

    let total: usize = results.iter().sum();
    assert_eq!(total, CLIENTS * HOLDS_PER_CLIENT);
    eprintln!(
        "FIGURE hold throughput, {CLIENTS} concurrent clients, distinct seats: {total} holds in {:.2} s = {:.0} holds/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    app.assert_invariants().await;
}

#[tokio::test]
async fn hold_is_refused_with_422_outside_the_booking_window() {
    let app = spawn_reservation_app().await;
    let now = time::OffsetDateTime::now_utc();
    let later = app
        .create_concert_with_window(
            &app.queue_id,
            now + time::Duration::hours(1),
            now + time::Duration::hours(2),
            2,
            1_000,
        )
        .await;
    let over = app
        .create_concert_with_window(
            &app.queue_id,
            now - time::Duration::hours(2),
            now - time::Duration::hours(1),
            2,
            1_000,
        )
        .await;
    let token = app.activate("alice").await;
    for concert in [later, over] {
        let schedule = concert.schedules[0].id;
        let seat = app.seat_ids(schedule).await[0];
        assert_problem(
            app.hold("alice", &token, schedule, seat).await,
            422,
            "BOOKING_CLOSED",
        )
        .await;
    }
}

#[tokio::test]
async fn releasing_a_hold_returns_the_seat_to_sale() {
    let app = spawn_reservation_app().await;
    let concert = app.create_open_concert(2, 1_000).await;
    let schedule = concert.schedules[0].id;
    let seat = app.seat_ids(schedule).await[0];
    let alice = app.activate("alice").await;
    let bob = app.activate("bob").await;
    let reservation = app.hold_ok("alice", &alice, schedule, seat).await;

    // Someone else cannot release it (and cannot tell it exists).
    assert_problem(
        app.release("bob", reservation).await,
        404,
        "RESERVATION_NOT_FOUND",
    )
    .await;
    assert_eq!(
        app.release("alice", reservation).await.status().as_u16(),
        204
    );
    assert_eq!(
        app.release("alice", reservation).await.status().as_u16(),
        204,
        "idempotent"
    );

    let body: Value = app
        .get_reservation("alice", reservation)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "released");
    app.hold_ok("bob", &bob, schedule, seat).await;
    app.assert_invariants().await;
}

#[tokio::test]
async fn releasing_a_lapsed_hold_never_frees_the_seat_its_new_holder_has() {
    let app = spawn_reservation_app_with(ReservationAppOptions {
        hold_ttl_seconds: 2,
        // Keep the worker out of the way: this is about the release itself.
        sweep_interval_ms: 60_000,
        ..ReservationAppOptions::default()
    })
    .await;
    let (schedule, seat) = app.one_open_seat(1_000).await;
    let alice = app.activate("alice").await;
    let bob = app.activate("bob").await;
    let first = app.hold_ok("alice", &alice, schedule, seat).await;
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    let second = app.hold_ok("bob", &bob, schedule, seat).await;

    assert_eq!(app.release("alice", first).await.status().as_u16(), 204);

    let seats = app.seats(schedule, "").await;
    assert_eq!(
        seats[0].status, "held",
        "bob's hold survives alice's release"
    );
    let bobs: Value = app
        .get_reservation("bob", second)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bobs["status"], "held");
    let holder: String =
        sqlx::query_scalar("SELECT CONVERT(holder_user_id USING utf8mb4) FROM seats WHERE id = ?")
            .bind(seat)
            .fetch_one(&app.db_pool)
            .await
            .unwrap();
    assert_eq!(holder, "bob");
}

#[tokio::test]
async fn an_expired_hold_can_be_taken_by_another_user_and_its_first_holder_can_no_longer_pay() {
    let app = spawn_reservation_app_with(ReservationAppOptions {
        hold_ttl_seconds: 2,
        ..ReservationAppOptions::default()
    })
    .await;
    let (schedule, seat) = app.one_open_seat(4_000).await;
    let alice = app.activate("alice").await;
    let bob = app.activate("bob").await;
    app.charge_ok("alice", 10_000).await;
    app.charge_ok("bob", 10_000).await;

    let first = app.hold_ok("alice", &alice, schedule, seat).await;
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    let second = app.hold_ok("bob", &bob, schedule, seat).await;

    assert_problem(
        app.pay("alice", &alice, first, "alice-pay-1").await,
        409,
        "HOLD_EXPIRED",
    )
    .await;
    let alices: Value = app
        .get_reservation("alice", first)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(alices["status"], "expired");
    assert_eq!(app.balance("alice").await, 10_000, "nothing was taken");

    let paid = app.pay("bob", &bob, second, "bob-pay-1").await;
    assert_eq!(paid.status().as_u16(), 200);
    assert_eq!(app.seats(schedule, "").await[0].status, "sold");
    app.assert_invariants().await;
}

#[tokio::test]
async fn a_lapsed_hold_neither_pays_for_nor_frees_the_same_users_new_hold_on_that_seat() {
    let app = spawn_reservation_app_with(ReservationAppOptions {
        hold_ttl_seconds: 1,
        // No sweep: the lapsed hold must be told apart from the new one on
        // the seat itself, not because the worker cleaned it up.
        sweep_interval_ms: 3_600_000,
        ..ReservationAppOptions::default()
    })
    .await;
    let (schedule, seat) = app.one_open_seat(4_000).await;
    let alice = app.activate("alice").await;
    app.charge_ok("alice", 10_000).await;

    let first = app.hold_ok("alice", &alice, schedule, seat).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let second = app.hold_ok("alice", &alice, schedule, seat).await;
    assert_ne!(first, second);

    assert_problem(
        app.pay("alice", &alice, first, "old-hold").await,
        409,
        "HOLD_EXPIRED",
    )
    .await;
    assert_eq!(app.release("alice", first).await.status().as_u16(), 204);
    assert_eq!(
        app.seats(schedule, "").await[0].status,
        "held",
        "the new hold stands"
    );
    let lapsed: Value = app
        .get_reservation("alice", first)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        lapsed["status"], "expired",
        "it ran out before it was released"
    );

    let paid = app.pay("alice", &alice, second, "new-hold").await;
    assert_eq!(paid.status().as_u16(), 200);
    assert_eq!(app.balance("alice").await, 6_000, "charged once");
    app.assert_invariants().await;
}

/// Activates `count` users named `<prefix>-<i>` at once; returns (user, token).
pub async fn join_all_users(
    app: &tests::reservation_app::TestReservationApp,
    prefix: &str,
    count: usize,
) -> Vec<(String, String)> {
    let users: Vec<String> = (0..count).map(|i| format!("{prefix}-{i}")).collect();
    let tokens = futures_util::future::join_all(users.iter().map(|u| app.activate(u))).await;
    users.into_iter().zip(tokens).collect()
}
