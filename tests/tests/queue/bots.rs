//! The attack the limits exist for: one client address tries to put ten
//! thousand invented users in line while five hundred fans, each from an
//! address of their own (forwarded by our trusted proxy), join over the
//! same seconds. Every fan must get a place, and the script no more than
//! its address budget.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream;
use queue_service::domain::{AbuseLimits, QueueConfig};
use shared::ids::UserId;
use tests::auth::{jwt_auth, mint, test_signer};
use tests::queue_app::{QueueAppOptions, queue_config, spawn_queue_app};

const INVENTED: usize = 10_000;
const FANS: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_script_on_one_address_gets_its_budget_and_every_fan_a_place() {
    let app = Arc::new(
        spawn_queue_app(QueueAppOptions {
            auth: jwt_auth(),
            trusted_proxies: "127.0.0.1/32".to_owned(),
            ..QueueAppOptions::without_scheduler()
        })
        .await,
    );
    let limits = AbuseLimits::default();
    let queue = app
        .create_queue(
            "bots",
            QueueConfig {
                limits,
                ..queue_config(100, 50, 600, 60)
            },
        )
        .await;
    let signer = Arc::new(test_signer());
    let started = Instant::now();

    let attacker = {
        let (app, queue, signer) = (app.clone(), queue.clone(), signer.clone());
        tokio::spawn(async move {
            stream::iter(0..INVENTED)
                .map(|i| {
                    let (app, queue, signer) = (app.clone(), queue.clone(), signer.clone());
                    async move {
                        let user = UserId::parse(&format!("bot{i}")).unwrap();
                        app.client
                            .post(app.url(&format!("/v1/queues/{queue}/tokens")))
                            .bearer_auth(mint(&signer, &user))
                            .header("X-Forwarded-For", "198.51.100.66")
                            .send()
                            .await
                            .map(|r| r.status().as_u16())
                            .unwrap_or(0)
                    }
                })
                .buffer_unordered(64)
                .collect::<Vec<u16>>()
                .await
        })
    };
    // The fans arrive over the same seconds, about 150 a second.
    let fans = {
        let (app, queue, signer) = (app.clone(), queue.clone(), signer.clone());
        tokio::spawn(async move {
            stream::iter(0..FANS)
                .map(|i| {
                    let (app, queue, signer) = (app.clone(), queue.clone(), signer.clone());
                    async move {
                        tokio::time::sleep(Duration::from_millis(i as u64 * 1000 / 150)).await;
                        let user = UserId::parse(&format!("fan{i}")).unwrap();
                        let address = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
                        app.client
                            .post(app.url(&format!("/v1/queues/{queue}/tokens")))
                            .bearer_auth(mint(&signer, &user))
                            .header("X-Forwarded-For", address)
                            .send()
                            .await
                            .map(|r| r.status().as_u16())
                            .unwrap_or(0)
                    }
                })
                .buffer_unordered(64)
                .collect::<Vec<u16>>()
                .await
        })
    };
    let attacker = attacker.await.unwrap();
    let fans = fans.await.unwrap();
    let elapsed = started.elapsed();

    let fans_placed = fans.iter().filter(|&&s| s == 201).count();
    let bots_placed = attacker.iter().filter(|&&s| s == 201).count();
    let bots_refused = attacker.iter().filter(|&&s| s == 429).count();
    assert_eq!(fans_placed, FANS, "every fan gets a place: {fans:?}");
    assert_eq!(
        bots_placed + bots_refused,
        INVENTED,
        "only 201 or 429 for the script"
    );
    // The address budget: the burst, plus the rate over the run.
    let budget = limits.issue_burst_per_address as f64
        + f64::from(limits.issues_per_minute_per_address) * elapsed.as_secs_f64() / 60.0;
    assert!(
        bots_placed as f64 <= budget.ceil(),
        "{bots_placed} invented users placed, budget {budget:.1} over {elapsed:?}"
    );

    // The line is FIFO: the first 500 admitted are the first 500 in line.
    let mut conn = app.store.pool().get().await.unwrap();
    let first: Vec<String> = deadpool_redis::redis::cmd("ZRANGE")
        .arg(app.store.keys(&queue).line())
        .arg(0)
        .arg(FANS as i64 - 1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let bots_in_first = first.iter().filter(|u| u.starts_with("bot")).count();
    let share = bots_in_first as f64 / first.len() as f64;
    eprintln!(
        "bots: {INVENTED} invented ids from one address over {elapsed:.1?}: {bots_placed} placed, \
         {bots_refused} refused (429); {fans_placed}/{FANS} fans placed; attacker share of the \
         first {} admitted: {bots_in_first} = {:.1} %",
        first.len(),
        share * 100.0
    );
    assert!(
        share <= 0.05,
        "the script holds {:.1} % of the first places",
        share * 100.0
    );
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("reason=\"issue_address_limit\""),
        "refusals are counted"
    );
}
