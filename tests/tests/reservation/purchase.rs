//! The purchase flows driven directly, without HTTP: what the handlers do
//! between parsing a request and shaping its answer.

use std::time::Duration;

use reservation_service::catalog::Catalog;
use reservation_service::domain::idempotency::Replay;
use reservation_service::domain::ids::{ReservationId, ScheduleId, SeatId};
use reservation_service::error::ReservationError;
use reservation_service::gate::Gate;
use reservation_service::metrics::ReservationMetrics;
use reservation_service::purchase::{self, Held, PaymentAnswer};
use reservation_service::state::AppState;
use shared::extract::QueueTokenHeader;
use shared::ids::UserId;
use tests::reservation_app::{TestReservationApp, spawn_reservation_app};
use time::OffsetDateTime;

fn state_of(app: &TestReservationApp) -> AppState {
    AppState {
        db: app.db_pool.clone(),
        redis: app.redis_pool.clone(),
        gate: Gate::new(app.codec.clone(), app.redis_pool.clone()),
        catalog: Catalog::new(app.db_pool.clone()),
        hold_ttl: Duration::from_secs(300),
        max_charge_amount: 1_000_000,
        metrics: ReservationMetrics::register(&prometheus::Registry::new()).unwrap(),
    }
}

#[tokio::test]
async fn hold_then_pay_without_http_and_every_retry_gets_the_same_answer() {
    let app = spawn_reservation_app().await;
    let state = state_of(&app);
    let schedule = app.create_open_concert(2, 1_500).await.schedules[0].id;
    let seats = app.seat_ids(schedule).await;
    let alice = UserId::parse("alice").unwrap();
    let token = QueueTokenHeader(app.activate("alice").await);
    app.charge_ok("alice", 2_000).await;
    let (schedule, seat) = (
        ScheduleId::new(schedule).unwrap(),
        SeatId::new(seats[0]).unwrap(),
    );
    let now = OffsetDateTime::now_utc();

    let Held::New(hold) = purchase::hold(&state, &alice, &token, schedule, seat, now)
        .await
        .unwrap()
    else {
        panic!("a free seat is held anew");
    };
    let Held::Again(again) = purchase::hold(&state, &alice, &token, schedule, seat, now)
        .await
        .unwrap()
    else {
        panic!("a retry gets its hold back");
    };
    assert_eq!(again.reservation_id, hold.reservation_id);

    let reservation = ReservationId::new(hold.reservation_id).unwrap();
    let PaymentAnswer::Stored(receipt) = purchase::pay(&state, &alice, &token, reservation, "k1")
        .await
        .unwrap()
    else {
        panic!("a first payment answers for itself");
    };
    assert_eq!(receipt.status, 200, "{}", receipt.body);
    let PaymentAnswer::Replay(Replay::Same(replayed)) =
        purchase::pay(&state, &alice, &token, reservation, "k1")
            .await
            .unwrap()
    else {
        panic!("a retry is a replay");
    };
    assert_eq!(replayed.body, receipt.body);
    assert_eq!(app.balance("alice").await, 500);

    // The payment ended alice's turn: no new hold.
    let refused = purchase::hold(
        &state,
        &alice,
        &token,
        schedule,
        SeatId::new(seats[1]).unwrap(),
        now,
    )
    .await;
    assert!(
        matches!(refused, Err(ReservationError::TokenNotActive)),
        "{refused:?}"
    );
    app.assert_invariants().await;
}

#[tokio::test]
async fn a_hold_outside_the_booking_window_is_refused_before_any_seat_is_touched() {
    let app = spawn_reservation_app().await;
    let state = state_of(&app);
    let schedule = app.create_open_concert(1, 1_000).await.schedules[0].id;
    let seat = app.seat_ids(schedule).await[0];
    let bob = UserId::parse("bob").unwrap();
    let token = QueueTokenHeader(app.activate("bob").await);
    let tomorrow = OffsetDateTime::now_utc() + time::Duration::days(1);
    let refused = purchase::hold(
        &state,
        &bob,
        &token,
        ScheduleId::new(schedule).unwrap(),
        SeatId::new(seat).unwrap(),
        tomorrow,
    )
    .await;
    assert!(
        matches!(refused, Err(ReservationError::BookingClosed)),
        "{refused:?}"
    );
    assert_eq!(app.seats(schedule, "?status=available").await.len(), 1);
}
