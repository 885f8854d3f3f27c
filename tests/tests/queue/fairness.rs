use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::Value;
use tests::queue_app::{QueueAppOptions, queue_config, spawn_queue_app};

#[tokio::test]
async fn waiting_users_are_promoted_in_issue_order() {
    let app = spawn_queue_app(QueueAppOptions::default()).await;
    // Slow admission (5/s) so several ticks are observed mid-way.
    let queue = app
        .create_queue("fifo", queue_config(100, 5, 600, 60))
        .await;
    let users: Vec<String> = (0..15).map(|i| format!("fifo-user-{i:02}")).collect();
    let mut tokens = Vec::new();
    for user in &users {
        let status = app.join(&queue, user).await;
        tokens.push(status["token"].as_str().unwrap().to_owned());
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut partial_observations = 0;
    loop {
        // Asked from the back of the line to the front: a promotion between
        // two reads can then only make the picture look more conservative,
        // never as if someone had been skipped.
        let mut statuses: Vec<Value> = Vec::new();
        for (user, token) in users.iter().zip(&tokens).rev() {
            let response = app.heartbeat(&queue, user, token).await;
            assert_eq!(response.status(), 200);
            statuses.push(response.json().await.unwrap());
        }
        statuses.reverse();
        let active: Vec<bool> = statuses.iter().map(|s| s["status"] == "active").collect();
        let first_waiting = active.iter().position(|a| !a).unwrap_or(active.len());
        assert!(
            active[first_waiting..].iter().all(|a| !a),
            "promotion skipped ahead of issue order: {active:?}"
        );
        let positions: Vec<u64> = statuses[first_waiting..]
            .iter()
            .map(|s| s["position"].as_u64().unwrap())
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "waiting positions follow issue order: {positions:?}"
        );
        if first_waiting == users.len() {
            break;
        }
        if first_waiting > 0 {
            partial_observations += 1;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all promoted: {active:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        partial_observations >= 2,
        "the line should be seen part-way promoted, saw {partial_observations} times"
    );
}

#[tokio::test]
async fn concurrent_issues_for_one_user_give_one_token_and_one_place() {
    let app = spawn_queue_app(QueueAppOptions::without_scheduler()).await;
    let queue = app
        .create_queue("idem", queue_config(10, 10, 600, 60))
        .await;
    app.join(&queue, "someone-ahead").await;

    let responses = join_all((0..200).map(|_| app.issue(&queue, "eager-user"))).await;
    let mut created = 0;
    let mut tokens = HashSet::new();
    let mut positions = HashSet::new();
    for response in responses {
        match response.status().as_u16() {
            201 => created += 1,
            200 => {}
            other => panic!("unexpected status {other}"),
        }
        let body: Value = response.json().await.unwrap();
        tokens.insert(body["token"].as_str().unwrap().to_owned());
        positions.insert(body["position"].as_u64().unwrap());
    }
    assert_eq!(created, 1, "exactly one 201 Created");
    assert_eq!(tokens.len(), 1, "one token");
    assert_eq!(
        positions,
        HashSet::from([2]),
        "one place, behind the first user"
    );
    assert_eq!(app.stats(&queue).await["waiting"], 2);
}

#[tokio::test]
async fn issuing_again_while_active_returns_the_active_token() {
    let app = spawn_queue_app(QueueAppOptions::default()).await;
    let queue = app
        .create_queue("again", queue_config(10, 10, 600, 60))
        .await;
    let first = app.join(&queue, "returning-user").await;
    let token = first["token"].as_str().unwrap();
    tests::eventually("promotion", Duration::from_secs(5), || async {
        let status: Value = app
            .heartbeat(&queue, "returning-user", token)
            .await
            .json()
            .await
            .unwrap();
        (status["status"] == "active").then_some(())
    })
    .await;

    let again = app.issue(&queue, "returning-user").await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["token"], first["token"]);
    assert_eq!(again["status"], "active");
    assert!(again["position"].is_null());
    assert!(again["estimated_wait_seconds"].is_null());
    assert!(again["active_until"].as_str().unwrap().ends_with('Z'));
}
