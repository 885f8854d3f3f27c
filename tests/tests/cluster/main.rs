//! Both services on a Redis Cluster (`REDIS_CLUSTER_URLS`): three masters
//! and three replicas of their own on loopback. Queues spread over every
//! master, the line moves, a purchase is gated by a token the cluster
//! holds, the seat feed and origin health are written, and the scripts
//! survive a failover to a node that never saw them. `failover`: a master
//! killed under load, and what asynchronous replication can lose.

mod failover;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use deadpool_redis::redis;
use futures_util::future::join_all;
use serde_json::Value;
use shared::config::RedisSettings;
use shared::ids::QueueId;
use shared::redis_pool::{RedisPool, build_pool, key_slot};
use tests::queue_app::{QueueAppOptions, TestQueueApp, queue_config, spawn_queue_app};
use tests::redis_cluster::ThrowawayCluster;
use tests::reservation_app::{ReservationAppOptions, spawn_reservation_app_with};
use tests::{TEST_ADMIN_KEY, assert_problem, eventually};

async fn start_cluster() -> ThrowawayCluster {
    tokio::task::spawn_blocking(ThrowawayCluster::start)
        .await
        .expect("the cluster starts")
}

/// A pool of the test's own on the cluster, for looking at what the
/// services wrote.
fn cluster_pool(cluster: &ThrowawayCluster, key_prefix: &str) -> RedisPool {
    build_pool(&RedisSettings {
        url: String::new(),
        cluster_urls: cluster.seed_urls(),
        pool_size: 4,
        timeout_ms: 2_000,
        key_prefix: key_prefix.to_owned(),
    })
    .expect("a cluster pool")
}

async fn status(app: &TestQueueApp, queue: &QueueId, user: &str, token: &str) -> Value {
    let response = app.heartbeat(queue, user, token).await;
    assert_eq!(response.status(), 200, "heartbeat of {user} in {queue}");
    response.json().await.expect("json body")
}

async fn wait_until_active(app: &TestQueueApp, queue: &QueueId, user: &str, token: &str) {
    eventually(
        &format!("{user} promoted in {queue}"),
        Duration::from_secs(15),
        || async { (status(app, queue, user, token).await["status"] == "active").then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn both_services_serve_a_sale_from_a_redis_cluster() {
    let cluster = start_cluster().await;
    let queue_options = QueueAppOptions {
        redis_cluster_urls: cluster.seed_urls(),
        // Nothing reaches the machine's shared Redis.
        redis_url: "redis://127.0.0.1:1".to_owned(),
        ..QueueAppOptions::default()
    };
    let key_prefix = queue_options.key_prefix.clone();
    let queues_app = spawn_queue_app(queue_options).await;
    let shop = spawn_reservation_app_with(ReservationAppOptions {
        redis_key_prefix: key_prefix.clone(),
        redis_cluster_urls: cluster.seed_urls(),
        ..Default::default()
    })
    .await;
    let pool = cluster_pool(&cluster, &key_prefix);

    // Thirty queues, one shopper at a time in each.
    let queues: Vec<QueueId> = join_all((0..30).map(|i| {
        let app = &queues_app;
        async move {
            app.create_queue(&format!("c{i}"), queue_config(1, 10, 600, 60))
                .await
        }
    }))
    .await;

    // Their keys spread over all three masters, each queue's keys in one
    // slot, where the server says they are.
    let masters = cluster.masters();
    assert_eq!(masters.len(), 3, "{masters:?}");
    let mut queues_per_master: BTreeMap<String, usize> = BTreeMap::new();
    for queue in &queues {
        let keys = pool.keyspace().queue(queue);
        let slot = key_slot(keys.config().as_bytes());
        assert_eq!(cluster.keyslot(&keys.config()), slot, "{queue}");
        assert_eq!(cluster.keyslot(&keys.line()), slot, "{queue}");
        let owner = masters
            .iter()
            .find(|m| m.serves(slot))
            .expect("a master serves the slot");
        let exists: bool = redis::cmd("EXISTS")
            .arg(keys.config())
            .query(&mut cluster.node(owner.port))
            .expect("EXISTS on the owning master");
        assert!(exists, "{queue}'s settings are on master {}", owner.port);
        *queues_per_master.entry(owner.id.clone()).or_default() += 1;
    }
    assert_eq!(
        queues_per_master.len(),
        3,
        "queues on every master: {queues_per_master:?}"
    );
    eprintln!(
        "queues per master: {:?}",
        queues_per_master.values().collect::<Vec<_>>()
    );

    // Alice and Bob join every line; the scheduler ticks every queue and
    // promotes Alice in each, Bob waits behind her.
    let tokens: Vec<(String, String)> = join_all(queues.iter().map(|queue| async {
        let alice = queues_app.join_token(queue, "alice").await;
        let bob = queues_app.join_token(queue, "bob").await;
        (alice, bob)
    }))
    .await;
    join_all(
        queues
            .iter()
            .zip(&tokens)
            .map(|(queue, (alice, _))| wait_until_active(&queues_app, queue, "alice", alice)),
    )
    .await;
    for (queue, (_, bob)) in queues.iter().zip(&tokens) {
        let bob = status(&queues_app, queue, "bob", bob).await;
        assert_eq!(bob["status"], "waiting", "{queue}: {bob}");
        assert_eq!(bob["position"], 1, "{queue}: {bob}");
        let lease: Option<String> = redis::cmd("GET")
            .arg(pool.keyspace().queue(queue).lease())
            .query_async(&mut pool.get().await.unwrap())
            .await
            .unwrap();
        assert!(lease.is_some(), "the scheduler holds {queue}'s lease");
    }

    // Concerts in three queues, one per master, so the seat feed writes
    // across slots.
    let mut fed: Vec<(usize, u64)> = Vec::new();
    let mut covered = BTreeSet::new();
    for (i, queue) in queues.iter().enumerate() {
        let slot = key_slot(pool.keyspace().queue(queue).config().as_bytes());
        let owner = masters.iter().find(|m| m.serves(slot)).unwrap();
        if covered.insert(owner.id.clone()) {
            let concert = shop.create_open_concert_in(queue, 5, 1_500).await;
            fed.push((i, concert.schedules[0].id));
        }
    }
    assert_eq!(fed.len(), 3);

    // A waiting token is refused; an active one holds and pays, which
    // completes it in the cluster and lets the next in line in.
    let (first, schedule) = fed[0];
    let queue = &queues[first];
    let (alice, bob) = &tokens[first];
    let seats = shop.seat_ids(schedule).await;
    assert_problem(
        shop.hold("bob", bob, schedule, seats[0]).await,
        403,
        "TOKEN_NOT_ACTIVE",
    )
    .await;
    shop.charge_ok("alice", 2_000).await;
    let hold = shop.hold("alice", alice, schedule, seats[0]).await;
    assert_eq!(hold.status(), 201);
    let hold: Value = hold.json().await.unwrap();
    let paid = shop
        .pay(
            "alice",
            alice,
            hold["reservation_id"].as_u64().unwrap(),
            "alice-pays-on-a-cluster",
        )
        .await;
    assert_eq!(paid.status(), 200);
    let paid: Value = paid.json().await.unwrap();
    assert_eq!(paid["status"], "confirmed");
    assert_problem(
        queues_app.heartbeat(queue, "alice", alice).await,
        410,
        "TOKEN_EXPIRED",
    )
    .await;
    wait_until_active(&queues_app, queue, "bob", bob).await;
    assert_eq!(
        shop.hold("bob", bob, schedule, seats[1]).await.status(),
        201
    );

    // The seat feed wrote every fed queue's counts (read back through the
    // admin list: settings and sizes of all thirty queues at once).
    let expected: BTreeMap<String, (u64, u64)> = fed
        .iter()
        .map(|&(i, _)| {
            let counts = if i == first { (3, 1) } else { (5, 0) };
            (queues[i].to_string(), counts)
        })
        .collect();
    eventually(
        "the seat feed writes every queue",
        Duration::from_secs(15),
        || async {
            let list: Value = queues_app
                .client
                .get(queues_app.url("/v1/admin/queues"))
                .bearer_auth(TEST_ADMIN_KEY)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let listed = list["queues"].as_array().unwrap();
            assert_eq!(listed.len(), 30, "every queue listed");
            let seen: BTreeMap<String, (u64, u64)> = listed
                .iter()
                .filter_map(|q| {
                    Some((
                        q["settings"]["queue_id"].as_str()?.to_owned(),
                        (q["seats_left"].as_u64()?, q["seats_held"].as_u64()?),
                    ))
                })
                .collect();
            (seen == expected).then_some(())
        },
    )
    .await;
    let metrics = queues_app.metrics_text().await;
    assert!(
        metrics.contains(queues[29].as_str()),
        "sizes of every queue in /metrics"
    );

    // Origin health: this replica's sample, stamped by the cluster.
    eventually(
        "origin health published",
        Duration::from_secs(10),
        || async {
            let health: BTreeMap<String, String> = redis::cmd("HGETALL")
                .arg(pool.keyspace().origin_health())
                .query_async(&mut pool.get().await.unwrap())
                .await
                .unwrap();
            health.contains_key(&shop.replica_id).then_some(())
        },
    )
    .await;

    // A queue deleted on the cluster is gone from its master and the list.
    let gone = &queues[29];
    let response = queues_app
        .client
        .delete(queues_app.url(&format!("/v1/admin/queues/{gone}")))
        .bearer_auth(TEST_ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(queues_app.get_stats(gone).await.status(), 404);

    drop(shop);
    drop(queues_app);
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
}

/// `number_of_cached_scripts` of one node (`INFO memory`).
fn cached_scripts(cluster: &ThrowawayCluster, port: u16) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query(&mut cluster.node(port))
        .unwrap();
    info.lines()
        .find_map(|line| line.trim().strip_prefix("number_of_cached_scripts:"))
        .and_then(|n| n.parse().ok())
        .expect("number_of_cached_scripts in INFO memory")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scripts_run_on_a_promoted_node_that_never_saw_them_and_a_lost_shard_is_503() {
    let cluster = start_cluster().await;
    let app = spawn_queue_app(QueueAppOptions {
        redis_cluster_urls: cluster.seed_urls(),
        redis_url: "redis://127.0.0.1:1".to_owned(),
        ..QueueAppOptions::without_scheduler()
    })
    .await;
    let queue = app
        .create_queue("failover", queue_config(1, 10, 600, 60))
        .await;
    let alice = app.join_token(&queue, "alice").await;
    let bob = app.join_token(&queue, "bob").await;
    app.tick(&queue).await;
    assert_eq!(
        status(&app, &queue, "alice", &alice).await["status"],
        "active"
    );

    // The replica of the queue's master forgets every script, then takes
    // over: the next calls meet NOSCRIPT there and load the scripts again.
    let slot = key_slot(app.store.keys(&queue).line().as_bytes());
    let master = cluster.master_of(slot);
    let replica = cluster
        .topology()
        .into_iter()
        .find(|n| n.master_id.as_deref() == Some(master.id.as_str()))
        .expect("the master has a replica");
    let flushed: String = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query(&mut cluster.node(replica.port))
        .unwrap();
    assert_eq!(flushed, "OK");
    let promoted = replica.port;
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.fail_over_to(&replica);
        cluster
    })
    .await
    .unwrap();
    assert_eq!(cluster.master_of(slot).port, promoted);
    assert_eq!(
        cached_scripts(&cluster, promoted),
        0,
        "the promoted node has no script"
    );
    assert_eq!(status(&app, &queue, "bob", &bob).await["position"], 1);
    assert!(
        cached_scripts(&cluster, promoted) > 0,
        "NOSCRIPT loaded the script"
    );
    assert_eq!(
        app.leave(&queue, "alice", &alice).await.status(),
        204,
        "leave runs on the promoted node"
    );
    app.tick(&queue).await;
    assert_eq!(status(&app, &queue, "bob", &bob).await["status"], "active");

    // The old master (now a replica) dies, and the new master forgets the
    // scripts again: loading them everywhere fails on the dead node, so
    // they are loaded where they are missing.
    let mut cluster = cluster;
    let old_master = master.port;
    cluster.kill(old_master);
    let new_master = cluster.master_of(slot).port;
    let _: String = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query(&mut cluster.node(new_master))
        .unwrap();
    assert_eq!(cached_scripts(&cluster, new_master), 0);
    eventually(
        "a heartbeat after the replica died",
        Duration::from_secs(10),
        || async {
            let response = app.heartbeat(&queue, "bob", &bob).await;
            (response.status() == 200).then_some(())
        },
    )
    .await;
    assert!(cached_scripts(&cluster, new_master) > 0);

    // The whole shard gone (master and replica): its queues answer 503,
    // quickly, not a hang and not a 500.
    cluster.kill(new_master);
    let started = std::time::Instant::now();
    let body = assert_problem(
        app.heartbeat(&queue, "bob", &bob).await,
        503,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered in {:?}: {body}",
        started.elapsed()
    );

    drop(app);
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
}
