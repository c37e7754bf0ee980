//! One test suite, run against both stores: the embedded redb file and MongoDB (through the
//! MongoDB-wire-compatible server from PyPI that `scripts/test.sh` installs).

use serde_json::json;
use tessera_schema::ObjectId;
use tessera_schema::records::{Origin, Service, TOKEN_LIFETIME_MS, TokenRecord, TokenTake};
use tessera_schema::room::{Room, RoomConfig};
use tessera_store::{EmbeddedStore, MongoStore, Page, Store, StoreError};
use tessera_testkit::MongoServer;

fn service(name: &str) -> Service {
    Service {
        id: ObjectId::new(),
        name: name.into(),
        key: "k".into(),
        encrypted: false,
        rooms: vec![],
        v: 0,
    }
}

fn room(name: &str) -> Room {
    Room {
        id: ObjectId::new(),
        config: RoomConfig::from_create(&json!({"name": name})).unwrap(),
        v: 0,
    }
}

fn token(room: ObjectId, service: ObjectId, at: i64) -> TokenRecord {
    TokenRecord {
        user: "u".into(),
        role: "presenter".into(),
        room,
        service,
        creation_date: at,
        origin: Origin::default(),
        code: "123".into(),
        secure: false,
        host: "localhost:8080".into(),
        web_transport_url: None,
        domain: None,
    }
}

async fn suite(store: &dyn Store) {
    store.ping().await.unwrap();

    // Services: create, unique names, lookups.
    let a = service("a");
    store.create_service(&a).await.unwrap();
    assert!(matches!(
        store.create_service(&service("a")).await,
        Err(StoreError::Conflict(_))
    ));
    let b = service("b");
    store.create_service(&b).await.unwrap();
    assert_eq!(store.service(a.id).await.unwrap().unwrap(), a);
    assert_eq!(store.service_by_name("b").await.unwrap().unwrap().id, b.id);
    assert!(store.service(ObjectId::new()).await.unwrap().is_none());
    let names: Vec<String> = store
        .services()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(names.contains(&"a".to_string()) && names.contains(&"b".to_string()));

    // Rooms: owned by a service, listed in id order, paged, replaced, deleted.
    let mut rooms = Vec::new();
    for i in 0..5 {
        let r = room(&format!("room{i}"));
        store.create_room(a.id, &r).await.unwrap();
        rooms.push(r);
    }
    let other = room("other");
    store.create_room(b.id, &other).await.unwrap();
    let listed = store.rooms(a.id, None).await.unwrap();
    assert_eq!(
        listed.iter().map(|r| r.id).collect::<Vec<_>>(),
        rooms.iter().map(|r| r.id).collect::<Vec<_>>()
    );
    assert_eq!(listed[0], rooms[0], "a room comes back exactly as stored");
    let page2 = store
        .rooms(
            a.id,
            Some(Page {
                page: 2,
                per_page: 2,
            }),
        )
        .await
        .unwrap();
    assert_eq!(
        page2.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![rooms[2].id, rooms[3].id]
    );
    assert!(
        store
            .rooms(
                a.id,
                Some(Page {
                    page: 9,
                    per_page: 2
                })
            )
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .service(a.id)
            .await
            .unwrap()
            .unwrap()
            .rooms
            .contains(&rooms[0].id)
    );

    let mut changed = rooms[1].clone();
    changed.config = changed
        .config
        .updated(&json!({"name": "renamed", "inputLimit": 7}))
        .unwrap();
    assert!(store.replace_room(&changed).await.unwrap());
    assert_eq!(store.room(changed.id).await.unwrap().unwrap(), changed);
    assert!(!store.replace_room(&room("ghost")).await.unwrap());

    assert!(store.delete_room(a.id, rooms[0].id).await.unwrap());
    assert!(!store.delete_room(a.id, rooms[0].id).await.unwrap());
    assert!(store.room(rooms[0].id).await.unwrap().is_none());
    assert!(
        !store
            .service(a.id)
            .await
            .unwrap()
            .unwrap()
            .rooms
            .contains(&rooms[0].id)
    );
    assert_eq!(store.rooms(a.id, None).await.unwrap().len(), 4);

    // Deleting a service deletes its rooms.
    assert!(store.delete_service(b.id).await.unwrap());
    assert!(!store.delete_service(b.id).await.unwrap());
    assert!(store.room(other.id).await.unwrap().is_none());

    // Tokens: single use, expire after three minutes, expired ones are purged.
    let now = 1_800_000_000_000i64;
    let fresh = ObjectId::with_timestamp((now / 1000) as u32);
    let t = token(rooms[1].id, a.id, now);
    store.insert_token(fresh, &t).await.unwrap();
    assert_eq!(
        store.take_token(fresh, now + 1000).await.unwrap(),
        TokenTake::Taken(Box::new(t.clone()))
    );
    assert_eq!(
        store.take_token(fresh, now + 1000).await.unwrap(),
        TokenTake::Missing
    );

    let old_at = now - TOKEN_LIFETIME_MS - 5000;
    let old = ObjectId::with_timestamp((old_at / 1000) as u32);
    store
        .insert_token(old, &token(rooms[1].id, a.id, old_at))
        .await
        .unwrap();
    assert_eq!(
        store.take_token(old, now).await.unwrap(),
        TokenTake::Expired
    );

    let stale_at = now - TOKEN_LIFETIME_MS - 60_000;
    let stale = ObjectId::with_timestamp((stale_at / 1000) as u32);
    store
        .insert_token(stale, &token(rooms[1].id, a.id, stale_at))
        .await
        .unwrap();
    let young = ObjectId::with_timestamp((now / 1000) as u32);
    store
        .insert_token(young, &token(rooms[1].id, a.id, now))
        .await
        .unwrap();
    assert_eq!(store.token_count().await.unwrap(), 2);
    assert_eq!(
        store.take_token(ObjectId::new(), now).await.unwrap(),
        TokenTake::Missing
    );
    assert_eq!(
        store.token_count().await.unwrap(),
        1,
        "the stale token was purged, the young one kept"
    );
    assert!(matches!(
        store.take_token(young, now).await.unwrap(),
        TokenTake::Taken(_)
    ));

    // The token key is created once and then stable.
    let k = store.token_key().await.unwrap();
    assert_eq!(k.len(), 128);
    assert!(k.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(store.token_key().await.unwrap(), k);
}

#[tokio::test]
async fn embedded_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    suite(&store).await;
}

#[tokio::test]
async fn embedded_store_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = service("persist");
    let r = room("kept");
    let key;
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.create_service(&s).await.unwrap();
        store.create_room(s.id, &r).await.unwrap();
        key = store.token_key().await.unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(store.room(r.id).await.unwrap().unwrap(), r);
    assert_eq!(
        store.service(s.id).await.unwrap().unwrap().rooms,
        vec![r.id]
    );
    assert_eq!(store.token_key().await.unwrap(), key);
}

#[tokio::test]
async fn embedded_store_refuses_a_second_opener() {
    let dir = tempfile::tempdir().unwrap();
    let _first = EmbeddedStore::open(dir.path()).unwrap();
    let err = EmbeddedStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("already open")),
        "{err}"
    );
}

#[tokio::test]
async fn mongo_store_passes_the_suite() {
    let server = MongoServer::start();
    let store = MongoStore::connect(&server.url("owtdb")).await.unwrap();
    suite(&store).await;
}

#[tokio::test]
async fn mongo_store_reads_documents_written_in_owt_shapes() {
    let server = MongoServer::start();
    let url = server.url("owtdb");
    let store = MongoStore::connect(&url).await.unwrap();
    // A room document as OWT's mongoose model writes it: numbers as doubles, extra fields.
    let client = mongodb::Client::with_uri_str(&url).await.unwrap();
    let db = client.database("owtdb");
    let rid = mongodb::bson::oid::ObjectId::new();
    let sid = mongodb::bson::oid::ObjectId::new();
    db.collection::<mongodb::bson::Document>("rooms")
        .insert_one(mongodb::bson::doc! {
            "_id": rid, "name": "legacy", "inputLimit": -1.0, "participantLimit": -1.0,
            "roles": [{"role": "presenter", "publish": {"audio": true, "video": true}, "subscribe": {"audio": true, "video": true}}],
            "views": [{"label": "common", "audio": {"format": {"codec": "opus", "sampleRate": 48000.0, "channelNum": 2.0}, "vad": true},
                       "video": {"format": {"codec": "vp8"}, "parameters": {"resolution": {"width": 640.0, "height": 480.0}, "framerate": 24.0, "keyFrameInterval": 100.0},
                                 "maxInput": 16.0, "motionFactor": 0.8, "bgColor": {"r": 0.0, "g": 0.0, "b": 0.0}, "keepActiveInputPrimary": false,
                                 "layout": {"fitPolicy": "letterbox", "templates": {"base": "fluid", "custom": []}}}}],
            "mediaIn": {"audio": [{"codec": "opus", "sampleRate": 48000.0, "channelNum": 2.0}], "video": [{"codec": "vp8"}]},
            "mediaOut": {"audio": [{"codec": "opus", "sampleRate": 48000.0, "channelNum": 2.0}], "video": {"format": [{"codec": "vp8"}], "parameters": {"resolution": ["vga"], "framerate": [30.0], "bitrate": ["x0.8"], "keyFrameInterval": [100.0]}}},
            "transcoding": {"audio": true, "video": {"format": true, "parameters": {"resolution": true, "framerate": true, "bitrate": true, "keyFrameInterval": true}}},
            "notifying": {"participantActivities": true, "streamChange": true},
            "__v": 0,
        })
        .await
        .unwrap();
    db.collection::<mongodb::bson::Document>("services")
        .insert_one(mongodb::bson::doc! {"_id": sid, "name": "sampleService", "key": "abc", "encrypted": true, "rooms": [rid], "__v": 0})
        .await
        .unwrap();
    let sid = ObjectId::from_bytes(sid.bytes());
    let rooms = store.rooms(sid, None).await.unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].config.name, "legacy");
    assert_eq!(rooms[0].config.input_limit, -1);
    let svc = store
        .service_by_name("sampleService")
        .await
        .unwrap()
        .unwrap();
    assert!(svc.encrypted);
}

#[tokio::test]
async fn unreachable_mongodb_is_a_clear_error() {
    let port = tessera_testkit::free_port();
    let err = MongoStore::connect(&format!("mongodb://127.0.0.1:{port}/owtdb"))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Unavailable(_)), "{msg}");
    assert!(
        msg.starts_with(&format!(
            "cannot reach MongoDB at mongodb://127.0.0.1:{port}/owtdb"
        )),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
}
