use std::time::{Duration, Instant};

use reservation_service::catalog::Catalog;
use reservation_service::domain::ids::ScheduleId;
use reservation_service::domain::seat::SeatStatus;
use reservation_service::storage;
use reservation_service::storage::seats::SeatPage;
use serde_json::{Value, json};
use tests::reservation_app::{rfc3339, spawn_reservation_app};
use time::OffsetDateTime;

#[tokio::test]
async fn a_created_concert_is_listed_with_its_schedules_and_seats() {
    let app = spawn_reservation_app().await;
    let body = json!({
        "title": "  Night at the Opera  ",
        "queue_id": app.queue_id.as_str(),
        "schedules": [
            {
                "starts_at": "2031-03-01T20:00:00+02:00",
                "booking_opens_at": "2031-01-01T10:00:00.250Z",
                "booking_closes_at": "2031-03-01T12:00:00Z",
                "seat_count": 3,
                "price": 12_000,
            },
            {
                "starts_at": "2031-03-02T20:00:00Z",
                "booking_opens_at": "2031-01-01T10:00:00Z",
                "booking_closes_at": "2031-03-02T12:00:00Z",
                "seat_count": 5,
                "price": 9_000,
            }
        ],
    });
    let response = app.create_concert(&body).await;
    assert_eq!(response.status().as_u16(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["title"], "Night at the Opera");
    assert_eq!(created["queue_id"], app.queue_id.as_str());
    let schedules = created["schedules"].as_array().unwrap();
    assert_eq!(schedules.len(), 2);
    assert_eq!(
        schedules[0]["starts_at"], "2031-03-01T18:00:00Z",
        "normalised to UTC"
    );
    assert_eq!(schedules[0]["booking_opens_at"], "2031-01-01T10:00:00.25Z");
    assert_eq!(schedules[0]["available_seats"], 3);
    assert_eq!(schedules[1]["available_seats"], 5);

    let concerts: Value = app
        .client
        .get(app.url("/v1/concerts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        concerts,
        json!([{ "id": created["id"], "title": "Night at the Opera", "queue_id": app.queue_id.as_str() }])
    );

    let listed: Value = app
        .client
        .get(app.url(&format!("/v1/concerts/{}/schedules", created["id"])))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(&listed, &created["schedules"]);

    let seats = app.seats(schedules[0]["id"].as_u64().unwrap(), "").await;
    let numbers: Vec<u32> = seats.iter().map(|s| s.number).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert!(
        seats
            .iter()
            .all(|s| s.price == 12_000 && s.status == "available")
    );
}

#[tokio::test]
async fn available_true_keeps_only_schedules_bookable_now_with_seats_left() {
    let app = spawn_reservation_app().await;
    let now = OffsetDateTime::now_utc();
    let hour = time::Duration::hours(1);
    let schedule = |opens: OffsetDateTime, closes: OffsetDateTime, seats: u32| {
        json!({
            "starts_at": rfc3339(now + 10 * hour),
            "booking_opens_at": rfc3339(opens),
            "booking_closes_at": rfc3339(closes),
            "seat_count": seats,
            "price": 1_000,
        })
    };
    let body = json!({
        "title": "Three nights",
        "queue_id": app.queue_id.as_str(),
        "schedules": [
            schedule(now - hour, now + hour, 2),       // open, seats left
            schedule(now - hour, now + hour, 1),       // open, will sell out
            schedule(now + hour, now + 2 * hour, 5),   // not open yet
            schedule(now - 2 * hour, now - hour, 5),   // closed
        ],
    });
    let created: Value = app.create_concert(&body).await.json().await.unwrap();
    let ids: Vec<u64> = created["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    let token = app.activate("alice").await;
    let only_seat = app.seat_ids(ids[1]).await[0];
    app.hold_ok("alice", &token, ids[1], only_seat).await;

    // Counts are cached for about a second; wait that out.
    let url = app.url(&format!(
        "/v1/concerts/{}/schedules?available=true",
        created["id"]
    ));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let listed: Value = app
            .client
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let listed_ids: Vec<u64> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_u64().unwrap())
            .collect();
        if listed_ids == [ids[0]] {
            assert_eq!(listed[0]["available_seats"], 2);
            break;
        }
        assert!(Instant::now() < deadline, "still listed: {listed}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all: Value = app
        .client
        .get(app.url(&format!("/v1/concerts/{}/schedules", created["id"])))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 4);
    assert_eq!(all[1]["available_seats"], 0);
}

#[tokio::test]
async fn seats_are_listed_by_status_with_keyset_paging() {
    let app = spawn_reservation_app().await;
    let concert = app.create_open_concert(10, 1_000).await;
    let schedule = concert.schedules[0].id;
    let ids = app.seat_ids(schedule).await;
    let token = app.activate("alice").await;
    app.charge_ok("alice", 5_000).await;
    app.hold_ok("alice", &token, schedule, ids[2]).await;
    let sold = app.hold_ok("alice", &token, schedule, ids[5]).await;
    assert_eq!(
        app.pay("alice", &token, sold, "p").await.status().as_u16(),
        200
    );

    let held = app.seats(schedule, "?status=held").await;
    assert_eq!(held.iter().map(|s| s.id).collect::<Vec<_>>(), [ids[2]]);
    let sold = app.seats(schedule, "?status=sold").await;
    assert_eq!(sold.iter().map(|s| s.id).collect::<Vec<_>>(), [ids[5]]);
    assert_eq!(app.seats(schedule, "?status=available").await.len(), 8);

    let first_page = app.seats(schedule, "?limit=4").await;
    assert_eq!(
        first_page.iter().map(|s| s.id).collect::<Vec<_>>(),
        ids[..4]
    );
    let next = app
        .seats(schedule, &format!("?limit=4&after={}", first_page[3].id))
        .await;
    assert_eq!(next.iter().map(|s| s.id).collect::<Vec<_>>(), ids[4..8]);
    let available_after = app
        .seats(
            schedule,
            &format!("?status=available&after={}&limit=100", ids[1]),
        )
        .await;
    assert_eq!(available_after.len(), 6);
    assert!(available_after.iter().all(|s| s.status == "available"));
}

/// A page of a late schedule must not cost a walk over every older
/// schedule's seats. Counted in rows the server reads for the page (the
/// session's handler counters), not in time.
#[tokio::test]
async fn a_seat_page_reads_only_its_own_schedules_rows() {
    let app = spawn_reservation_app().await;
    app.create_open_concert(5_000, 1_000).await;
    let late = app.create_open_concert(20, 1_000).await.schedules[0].id;
    let schedule = ScheduleId::new(late).unwrap();
    let facts = Catalog::new(app.db_pool.clone())
        .facts(schedule)
        .await
        .unwrap();

    let mut conn = app.db_pool.acquire().await.unwrap();
    for status in [None, Some(SeatStatus::Available)] {
        sqlx::query("FLUSH STATUS")
            .execute(&mut *conn)
            .await
            .unwrap();
        let page = SeatPage {
            seat_ids: facts.seat_ids.clone().expect("the schedule has seats"),
            status,
            after: None,
            limit: 5,
        };
        let rows = storage::seats::list(&mut *conn, schedule, page)
            .await
            .unwrap();
        assert_eq!(rows.len(), 5);
        let counters: Vec<(String, String)> =
            sqlx::query_as("SHOW SESSION STATUS LIKE 'Handler_read%'")
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        let rows_read: u64 = counters
            .iter()
            .filter_map(|(_, value)| value.parse::<u64>().ok())
            .sum();
        assert!(
            rows_read <= 50,
            "a 5-seat page ({status:?}) read {rows_read} rows: {counters:?}"
        );
    }
}

/// Prints the figure for the report; asserts only a generous bound.
#[tokio::test]
async fn a_fifty_thousand_seat_schedule_is_created_in_seconds() {
    let app = spawn_reservation_app().await;
    let started = Instant::now();
    let concert = app.create_open_concert(50_000, 7_500).await;
    let elapsed = started.elapsed();
    eprintln!(
        "FIGURE 50,000-seat schedule created in {:.2} s",
        elapsed.as_secs_f64()
    );
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");

    let schedule = concert.schedules[0].id;
    assert_eq!(concert.schedules[0].available_seats, 50_000);
    let (count, min, max): (i64, u32, u32) = sqlx::query_as(
        "SELECT COUNT(*), MIN(seat_number), MAX(seat_number) FROM seats WHERE schedule_id = ?",
    )
    .bind(schedule)
    .fetch_one(&app.db_pool)
    .await
    .unwrap();
    assert_eq!((count, min, max), (50_000, 1, 50_000));
    let page = app.seats(schedule, "?status=available&limit=10").await;
    assert_eq!(page.len(), 10);
    // Without a limit, one default page; a page may not exceed 5,000.
    let default_page: Vec<Value> = app
        .client
        .get(app.url(&format!("/v1/schedules/{schedule}/seats")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(default_page.len(), 1_000);
    assert_eq!(app.seats(schedule, "?limit=5000").await.len(), 5_000);
    let too_big = app
        .client
        .get(app.url(&format!("/v1/schedules/{schedule}/seats?limit=5001")))
        .send()
        .await
        .unwrap();
    tests::assert_problem(too_big, 400, "INVALID_REQUEST").await;
}

#[tokio::test]
async fn the_seat_listing_is_compressed_when_the_client_accepts_gzip() {
    let app = spawn_reservation_app().await;
    let concert = app.create_open_concert(500, 1_000).await;
    let url = app.url(&format!("/v1/schedules/{}/seats", concert.schedules[0].id));
    let gzipped = app
        .client
        .get(&url)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.status(), 200);
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let plain = app.client.get(&url).send().await.unwrap();
    assert!(!plain.headers().contains_key("content-encoding"));
    let seats: Vec<Value> = plain.json().await.unwrap();
    assert_eq!(seats.len(), 500);
}
