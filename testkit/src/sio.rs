//! A minimal Socket.IO v5 / Engine.IO v4 client over WebSocket, for protocol tests of the
//! portal: connect to the default namespace, emit events with acknowledgements, receive events.
//! It is written from the protocol and deliberately small; the browser and Python tests use the
//! real client libraries.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// A connected client.
#[derive(Debug)]
pub struct SioClient {
    out: mpsc::UnboundedSender<String>,
    events: mpsc::UnboundedReceiver<(String, Value)>,
    acks: mpsc::UnboundedReceiver<(u64, Vec<Value>)>,
    next_ack: u64,
    /// The Engine.IO session id.
    pub sid: String,
    task: tokio::task::JoinHandle<()>,
}

impl SioClient {
    /// Connects to `ws://<addr>/socket.io/?EIO=4&transport=websocket` and joins `/`.
    pub async fn connect(addr: SocketAddr) -> Result<SioClient, String> {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        // TCP_NODELAY, as browsers set it: with Nagle's algorithm a request written while an
        // earlier frame is unacknowledged waits for the server's delayed ACK (~40 ms).
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let (mut sink, mut stream) = ws.split();
        let open = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .map_err(|_| "no open packet")?;
        let Some(Ok(Message::Text(open))) = open else {
            return Err("no open packet".into());
        };
        let open = open.to_string();
        let info: Value = serde_json::from_str(open.strip_prefix('0').ok_or("bad open packet")?)
            .map_err(|e| e.to_string())?;
        let sid = info["sid"].as_str().unwrap_or_default().to_string();
        sink.send(Message::Text("40".into()))
            .await
            .map_err(|e| e.to_string())?;
        // Like socket.io-client, emit nothing before the namespace is joined: the server may
        // still be running its connect handler, and an event for a namespace the socket is not
        // in yet closes the connection.
        let joined = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(frame) = stream.next().await {
                match frame {
                    Ok(Message::Text(t)) if t.starts_with("40") => return Ok(()),
                    Ok(Message::Text(t)) if t.starts_with("44") => {
                        return Err(format!("namespace refused: {t}"));
                    }
                    Ok(Message::Text(t)) if t.as_str() == "2" => {
                        sink.send(Message::Text("3".into()))
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            Err("closed before joining the namespace".to_string())
        })
        .await
        .map_err(|_| "no namespace connect ack".to_string())?;
        joined?;
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
        let (ev_tx, events) = mpsc::unbounded_channel();
        let (ack_tx, acks) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    msg = out_rx.recv() => match msg {
                        Some(m) => if sink.send(Message::Text(m.into())).await.is_err() { break },
                        None => { let _ = sink.close().await; break; }
                    },
                    frame = stream.next() => {
                        let Some(Ok(frame)) = frame else { break };
                        let Message::Text(t) = frame else { continue };
                        let t = t.to_string();
                        if t == "2" {
                            let _ = sink.send(Message::Text("3".into())).await;
                        } else if let Some(rest) = t.strip_prefix("42") {
                            if let Ok(Value::Array(mut a)) = serde_json::from_str::<Value>(rest.trim_start_matches(|c: char| c.is_ascii_digit())) && !a.is_empty() {
                                let name = a.remove(0).as_str().unwrap_or_default().to_string();
                                let data = a.into_iter().next().unwrap_or(Value::Null);
                                let _ = ev_tx.send((name, data));
                            }
                        } else if let Some(rest) = t.strip_prefix("43") {
                            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                            if let (Ok(id), Ok(Value::Array(a))) = (digits.parse::<u64>(), serde_json::from_str::<Value>(&rest[digits.len()..])) {
                                let _ = ack_tx.send((id, a));
                            }
                        } else if t.starts_with("41") {
                            let _ = ev_tx.send(("#disconnect".into(), Value::Null));
                        }
                    }
                }
            }
            let _ = ev_tx.send(("#closed".into(), Value::Null));
        });
        Ok(SioClient {
            out: out_tx,
            events,
            acks,
            next_ack: 0,
            sid,
            task,
        })
    }

    /// Emits `event` with `data` (none when `None`) and waits for the acknowledgement's
    /// arguments, e.g. `["ok", {...}]` or `["error", "reason"]`.
    pub async fn request(
        &mut self,
        event: &str,
        data: Option<Value>,
    ) -> Result<Vec<Value>, String> {
        let id = self.next_ack;
        self.next_ack += 1;
        let mut args = vec![Value::String(event.into())];
        args.extend(data);
        self.out
            .send(format!("42{id}{}", Value::Array(args)))
            .map_err(|_| "socket closed".to_string())?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let got = tokio::time::timeout_at(deadline, self.acks.recv())
                .await
                .map_err(|_| format!("no ack for {event}"))?;
            match got {
                Some((i, a)) if i == id => return Ok(a),
                Some(_) => continue,
                None => return Err("socket closed".into()),
            }
        }
    }

    /// Emits `event` with `data` and no acknowledgement.
    pub fn emit(&self, event: &str, data: Value) {
        let _ = self.out.send(format!(
            "42{}",
            Value::Array(vec![Value::String(event.into()), data])
        ));
    }

    /// The next event that satisfies `pred`, within `timeout` (others are skipped).
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&str, &Value) -> bool,
    ) -> Result<(String, Value), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some((e, d))) if pred(&e, &d) => return Ok((e, d)),
                Ok(Some(_)) => continue,
                Ok(None) => return Err("socket closed".into()),
                Err(_) => return Err("timed out waiting for an event".into()),
            }
        }
    }

    /// Closes the WebSocket without a Socket.IO disconnect (like a network loss).
    pub async fn drop_connection(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    /// Closes cleanly.
    pub async fn close(self) {
        drop(self.out);
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}
