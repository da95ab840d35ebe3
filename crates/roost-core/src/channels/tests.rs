//! One test per rule of docs/feathers-semantics.md §D1–D7 and §D13, plus structural cost tests.

use super::*;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn conns(app: &App, n: usize) -> Vec<ConnectionId> {
    (0..n)
        .map(|_| {
            let id = ConnectionId::next();
            app.channels().connect(id);
            id
        })
        .collect()
}

#[test]
fn d1_channel_is_created_lazily_and_returned_by_name() {
    let app = App::new();
    assert!(app.channel_names().is_empty());
    let [c] = conns(&app, 1)[..] else { panic!() };
    app.channel("a").join([c]);
    assert_eq!(app.channel("a").connections(), vec![c]);
    assert_eq!(app.channel_names(), vec!["a"]);
}

#[test]
fn d1_several_names_give_a_combined_channel_and_none_is_an_error() {
    let app = App::new();
    let [c1, c2] = conns(&app, 2)[..] else {
        panic!()
    };
    app.channel("a").join([c1]);
    app.channel("b").join([c2]);
    let both = app.channel_many(&["a", "b"]).unwrap();
    assert_eq!(both.name(), None);
    assert_eq!(both.connections(), vec![c1, c2]);
    let one = app.channel_many(&["a"]).unwrap();
    assert_eq!(one.name(), Some("a"));
    let err = app.channel_many::<&str>(&[]).unwrap_err();
    assert_eq!(err.message, "app.channel needs at least one channel name");
}

#[test]
fn d2_join_is_idempotent_ignores_none_and_unconnected_ids() {
    let app = App::new();
    let [c1, c2] = conns(&app, 2)[..] else {
        panic!()
    };
    let ch = app.channel("a");
    ch.join([c1, c1]).join([c1, c2]).join(None);
    assert_eq!(ch.connections(), vec![c1, c2]);
    assert_eq!(ch.len(), 2);
    ch.join([ConnectionId::next()]);
    assert_eq!(ch.len(), 2, "ids never connected cannot join");
}

#[test]
fn d2_leave_by_id_and_by_predicate() {
    let app = App::new();
    let cs = conns(&app, 4);
    let ch = app.channel("a");
    ch.join(cs.iter().copied());
    ch.leave([cs[0]]);
    assert_eq!(ch.connections(), cs[1..].to_vec());
    let odd = cs[3];
    ch.leave_where(|c| c == odd);
    assert_eq!(ch.connections(), vec![cs[1], cs[2]]);
    assert!(!ch.contains(odd));
    assert_eq!(app.channels().channels_of(cs[1]), vec!["a"]);
    assert!(app.channels().channels_of(odd).is_empty());
}

#[test]
fn d3_filter_gives_an_unregistered_snapshot() {
    let app = App::new();
    let cs = conns(&app, 3);
    let ch = app.channel("a");
    ch.join(cs.iter().copied());
    let keep = cs[1];
    let filtered = ch.filter(|c| c != keep);
    assert_eq!(filtered.connections(), vec![cs[0], cs[2]]);
    assert_eq!(filtered.name(), None);
    assert_eq!(app.channel_names(), vec!["a"]);
    // Leaving the registered channel does not change the snapshot, and vice versa.
    ch.leave([cs[0]]);
    assert_eq!(filtered.len(), 2);
    filtered.leave([cs[2]]);
    assert!(ch.contains(cs[2]));
}

#[test]
fn d3_send_carries_data_and_keeps_connections() {
    let app = App::new();
    let [c] = conns(&app, 1)[..] else { panic!() };
    let ch = app.channel("a");
    ch.join([c]);
    let sent = ch.send(json!({"x": 1}));
    assert_eq!(sent.data(), Some(&json!({"x": 1})));
    assert_eq!(ch.data(), None);
    assert_eq!(sent.connections(), vec![c]);
    assert_eq!(sent.filter(|_| true).data(), Some(&json!({"x": 1})));
}

#[test]
fn d4_leave_that_empties_fires_empty_and_removes_the_channel() {
    let app = App::new();
    let [c1, c2] = conns(&app, 2)[..] else {
        panic!()
    };
    let fired = Arc::new(AtomicUsize::new(0));
    let ch = app.channel("a");
    ch.join([c1, c2]);
    let f = fired.clone();
    assert!(ch.on_empty(move |name| {
        assert_eq!(name, "a");
        f.fetch_add(1, Ordering::SeqCst);
    }));
    ch.leave([c1]);
    assert_eq!(fired.load(Ordering::SeqCst), 0);
    ch.leave([c2]);
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    assert!(app.channel_names().is_empty());
    // Listeners went with the channel: a new `a` does not fire the old one.
    app.channel("a").join([c1]);
    app.channel("a").leave([c1]);
    assert_eq!(fired.load(Ordering::SeqCst), 1);
}

#[test]
fn d4_created_never_joined_stays_listed_until_a_leave() {
    let app = App::new();
    let [c] = conns(&app, 1)[..] else { panic!() };
    app.channel("ghost");
    app.channel("other").join([c]);
    assert_eq!(app.channel_names(), vec!["ghost", "other"]);
    app.channel("ghost").leave(None);
    assert_eq!(app.channel_names(), vec!["other"]);
    // leave_all (disconnect/logout) prunes never-joined channels too.
    app.channel("ghost2");
    app.channels().leave_all(c);
    assert!(app.channel_names().is_empty());
}

#[test]
fn d5_channel_names_list_existing_channels_and_everyone() {
    let app = App::new();
    let cs = conns(&app, 3);
    assert!(app.channels().everyone().is_none());
    app.channel("x").join([cs[0], cs[1]]);
    app.channel("y").join([cs[1], cs[2]]);
    assert_eq!(app.channel_names(), vec!["x", "y"]);
    let everyone = app.channel_many(&app.channel_names()).unwrap();
    assert_eq!(everyone.connections(), cs);
    assert_eq!(app.channels().everyone().unwrap().len(), 3);
}

#[test]
fn d6_combined_dedups_in_first_appearance_order_and_first_channel_data_wins() {
    let app = App::new();
    let cs = conns(&app, 3);
    let a = app.channel("a");
    let b = app.channel("b");
    b.join([cs[2], cs[1]]);
    a.join([cs[1], cs[0]]);
    let combined = Channel::combine([b.clone(), a.clone()]);
    assert_eq!(combined.connections(), vec![cs[2], cs[1], cs[0]]);
    assert_eq!(combined.len(), 3);

    let combined = Channel::combine([a.send(json!("A")), b]);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    combined.recipients_into(None, &mut seen, &mut out);
    let data_of = |c: ConnectionId| {
        out.iter()
            .find(|(x, _)| *x == c)
            .map(|(_, d)| d.as_deref().cloned())
    };
    assert_eq!(out.len(), 3);
    assert_eq!(
        data_of(cs[1]),
        Some(Some(json!("A"))),
        "first listed channel wins"
    );
    assert_eq!(data_of(cs[0]), Some(Some(json!("A"))));
    assert_eq!(data_of(cs[2]), Some(None), "no send data: null");
}

#[test]
fn d7_join_and_leave_on_combined_apply_to_every_child() {
    let app = App::new();
    let [c1, c2] = conns(&app, 2)[..] else {
        panic!()
    };
    let combined = app.channel_many(&["a", "b"]).unwrap();
    combined.join([c1, c2]);
    assert_eq!(app.channel("a").connections(), vec![c1, c2]);
    assert_eq!(app.channel("b").connections(), vec![c1, c2]);
    combined.leave([c1]);
    assert_eq!(app.channel("a").connections(), vec![c2]);
    assert_eq!(app.channel("b").connections(), vec![c2]);
    combined.leave_where(|_| true);
    assert!(app.channel_names().is_empty());
}

#[test]
fn d13_disconnect_and_logout_leave_all_channels() {
    let app = App::new();
    let [c1, c2] = conns(&app, 2)[..] else {
        panic!()
    };
    for name in ["anonymous", "user/1", "room/1"] {
        app.channel(name).join([c1]);
    }
    app.channel("room/1").join([c2]);
    // logout: leaves everything, stays connected and can join again.
    app.channels().leave_all(c1);
    assert_eq!(app.channel_names(), vec!["room/1"]);
    assert_eq!(app.channel("room/1").connections(), vec![c2]);
    assert!(app.channels().is_connected(c1));
    app.channel("authenticated").join([c1]);
    assert_eq!(app.channel("authenticated").len(), 1);
    // disconnect: leaves everything and can no longer join.
    assert!(app.channels().disconnect(c1));
    assert!(!app.channels().disconnect(c1));
    assert_eq!(app.channel_names(), vec!["room/1"]);
    app.channel("late").join([c1]);
    assert!(
        app.channel("late").is_empty(),
        "a join racing the disconnect is ignored"
    );
    assert_eq!(app.channels().connection_count(), 1);
}

#[test]
fn leave_all_and_publish_do_not_walk_all_connections() {
    let app = App::new();
    let many = conns(&app, 20_000);
    let me = many[7];
    app.channel("room/1").join([me, many[8]]);
    app.channel("user/7").join([me]);
    let visits = &app.channels().registry().read().visits_snapshot();
    assert_eq!(visits.0, 0);

    // Publishing to a 2-member channel reads 2 members and never the connected set.
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    Channel::combine([app.channel("room/1"), app.channel("user/7")])
        .recipients_into(None, &mut seen, &mut out);
    assert_eq!(out.len(), 2);
    let (members, connected_scans, channel_scans) =
        app.channels().registry().read().visits_snapshot();
    assert_eq!((members, connected_scans, channel_scans), (3, 0, 0));

    app.channels().leave_all(me);
    app.channels().disconnect(many[8]);
    let after = app.channels().registry().read().visits_snapshot();
    assert_eq!(
        after,
        (3, 0, 0),
        "leave_all walks only the connection's channels"
    );
    assert!(app.channel_names().is_empty());
}

#[test]
fn concurrent_join_leave_and_publish_stay_consistent() {
    let app = App::new();
    let cs = conns(&app, 64);
    std::thread::scope(|s| {
        for t in 0..4 {
            let app = &app;
            let cs = &cs;
            s.spawn(move || {
                for round in 0..200 {
                    let conn = cs[(t * 16 + round) % cs.len()];
                    let room = format!("room/{}", round % 5);
                    app.channel(&room).join([conn]);
                    app.channel("all").join([conn]);
                    let mut seen = std::collections::HashSet::new();
                    let mut out = Vec::new();
                    app.channel_many(&[room.as_str(), "all"])
                        .unwrap()
                        .recipients_into(None, &mut seen, &mut out);
                    assert_eq!(out.len(), seen.len());
                    if round % 3 == 0 {
                        app.channels().leave_all(conn);
                    } else {
                        app.channel(&room).leave([conn]);
                    }
                }
            });
        }
    });
    // Both indexes agree: every member's reverse entry lists the channel and vice versa.
    for conn in &cs {
        for name in app.channels().channels_of(*conn) {
            assert!(app.channel(&name).contains(*conn));
        }
    }
    for name in app.channel_names() {
        for conn in app.channel(&name).connections() {
            assert!(app.channels().channels_of(conn).contains(&name));
        }
    }
}
