//! The gRPC transport on loopback: frames of ragged sizes both ways named by their stream, sizes
//! refused before sending and on receipt, misbehaving raw clients cut and counted while honest
//! instances go on, a server that goes away, and back-pressure that bounds memory.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use chacha20::ChaCha20Rng;
use dfma_protocol::limits::MAX_FRAME_BYTES;
use dfma_protocol::transport::grpc::service::ccf_client::CcfClient;
use dfma_protocol::transport::grpc::{CLOSE_GRACE, Frame, GrpcCcf, GrpcCounts, GrpcInstance};
use dfma_protocol::transport::{Ccf, ConnectionId, Incoming, Transport, TransportError};
use rand_core::{Rng, SeedableRng};
use tokio_stream::StreamExt as _;
use tonic::transport::Endpoint;

const WAIT: Duration = Duration::from_secs(5);

fn url(ccf: &GrpcCcf) -> String {
    format!("http://{}", ccf.local_addr())
}

fn wait_for(ccf: &GrpcCcf, what: impl Fn(&GrpcCounts) -> bool) -> GrpcCounts {
    let deadline = Instant::now() + WAIT;
    loop {
        let counts = ccf.counts();
        if what(&counts) || Instant::now() > deadline {
            return counts;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// `count` frames of seeded random bytes and ragged lengths, one of them empty and one above
/// 1 MiB, so that frames span several HTTP/2 DATA frames and none is all zeros.
fn ragged_frames(seed: u8, count: usize) -> Vec<Vec<u8>> {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    (0..count)
        .map(|index| {
            let len = match index {
                0 => 0,
                1 => (1 << 20) + 3,
                _ => rng.next_u32() as usize % 70_000,
            };
            let mut frame = vec![0u8; len];
            rng.fill_bytes(&mut frame);
            frame
        })
        .collect()
}

#[test]
fn frames_from_three_instances_arrive_in_order_named_by_stream_and_replies_reach_only_their_instance() {
    let mut ccf = GrpcCcf::serve("127.0.0.1:0", 4).unwrap();
    let instances: Vec<GrpcInstance> = (0..3).map(|_| GrpcInstance::connect(&url(&ccf)).unwrap()).collect();
    let ids: Vec<ConnectionId> = (0..3).map(ConnectionId).collect();
    assert_eq!(ccf.connections(), ids, "streams are numbered in connection order");
    let sent: Vec<Vec<Vec<u8>>> = (0..3).map(|index| ragged_frames(10 + index as u8, 12)).collect();
    // Senders run on their own threads: with a queue of 4 frames they block until the CCF reads.
    let senders: Vec<_> = instances
        .into_iter()
        .zip(sent.clone())
        .map(|(mut instance, frames)| {
            thread::spawn(move || {
                for frame in frames {
                    instance.send(Ccf, frame).unwrap();
                }
                instance
            })
        })
        .collect();
    let mut received: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 3];
    for _ in 0..36 {
        let Incoming { from, frame } = ccf.recv_timeout(WAIT).unwrap().expect("a frame within the wait");
        received[from.0 as usize].push(frame);
    }
    assert_eq!(received, sent, "every frame arrives once, named by its stream, in the order sent");
    let mut instances: Vec<GrpcInstance> = senders.into_iter().map(|sender| sender.join().unwrap()).collect();
    let replies = ragged_frames(20, 3);
    for (id, reply) in ids.iter().zip(&replies) {
        ccf.send(*id, reply.clone()).unwrap();
    }
    for (instance, reply) in instances.iter_mut().zip(&replies) {
        assert_eq!(instance.recv_timeout(WAIT).unwrap(), Some(Incoming { from: Ccf, frame: reply.clone() }));
        assert_eq!(instance.recv_timeout(Duration::from_millis(20)).unwrap(), None, "no one else's reply");
    }
    assert_eq!(ccf.recv_timeout(Duration::from_millis(10)).unwrap(), None);
    drop(instances);
    let counts = wait_for(&ccf, |c| c.clean_closes == 3);
    assert_eq!(
        counts,
        GrpcCounts { connections: 3, frames: 36, clean_closes: 3, ..GrpcCounts::default() },
        "dropped instances close their streams cleanly"
    );
    assert!(ccf.connections().is_empty());
    assert!(matches!(ccf.send(ids[0], vec![1]), Err(TransportError::PeerGone(_))));
}

#[test]
fn an_oversized_frame_is_refused_before_sending_and_one_of_exactly_the_limit_passes_both_ways() {
    let mut ccf = GrpcCcf::serve("127.0.0.1:0", 1).unwrap();
    let mut instance = GrpcInstance::connect(&url(&ccf)).unwrap();
    let error = instance.send(Ccf, vec![3; MAX_FRAME_BYTES + 1]).unwrap_err();
    assert_eq!(error, TransportError::Oversized { bytes: MAX_FRAME_BYTES + 1, limit: MAX_FRAME_BYTES });
    let error = ccf.send(ConnectionId(0), vec![3; MAX_FRAME_BYTES + 1]).unwrap_err();
    assert!(matches!(error, TransportError::Oversized { .. }), "{error:?}");
    assert!(matches!(ccf.send(ConnectionId(99), vec![1]), Err(TransportError::PeerGone(_))));
    assert_eq!(ccf.recv_timeout(Duration::from_millis(50)).unwrap(), None);
    assert_eq!(instance.recv_timeout(Duration::from_millis(10)).unwrap(), None);
    // The stream is still usable: nothing was sent. A frame of exactly the limit passes both ways.
    instance.send(Ccf, vec![1, 2]).unwrap();
    assert_eq!(ccf.recv_timeout(WAIT).unwrap(), Some(Incoming { from: ConnectionId(0), frame: vec![1, 2] }));
    let largest = ragged_frames(30, 3).concat().into_iter().cycle().take(MAX_FRAME_BYTES).collect::<Vec<u8>>();
    instance.send(Ccf, largest.clone()).unwrap();
    let incoming = ccf.recv_timeout(WAIT).unwrap().expect("the largest frame within the wait");
    assert!(incoming.frame == largest, "the largest frame arrives whole");
    ccf.send(ConnectionId(0), largest.clone()).unwrap();
    let incoming = instance.recv_timeout(WAIT).unwrap().expect("the largest frame within the wait");
    assert!(incoming.frame == largest, "the largest frame arrives whole");
    assert_eq!(wait_for(&ccf, |c| c.frames == 2).frames, 2);
}

/// A message the server cannot decode as a `Frame`: field 1 as a varint, not bytes.
#[derive(Clone, PartialEq, prost::Message)]
struct NotAFrame {
    #[prost(uint64, tag = "1")]
    number: u64,
}

fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn a_raw_client_sending_an_oversized_message_is_cut_and_counted_while_others_go_on() {
    let mut ccf = GrpcCcf::serve("127.0.0.1:0", 4).unwrap();
    let mut honest = GrpcInstance::connect(&url(&ccf)).unwrap();
    let runtime = client_runtime();
    let status = runtime.block_on(async {
        let channel = Endpoint::from_shared(url(&ccf)).unwrap().connect().await.unwrap();
        // This client encodes anything; the server must refuse it from the message header.
        let mut client = CcfClient::new(channel).max_encoding_message_size(usize::MAX);
        let oversized = Frame { frame: vec![0xA5; MAX_FRAME_BYTES + 1] };
        // The request stream stays open after the message: only the server can end the call.
        let requests = tokio_stream::iter([oversized]).chain(tokio_stream::pending());
        let mut responses = client.connect(requests).await.unwrap().into_inner();
        tokio::time::timeout(WAIT, responses.message()).await.expect("the server ends the stream").unwrap_err()
    });
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    let counts = wait_for(&ccf, |c| c.oversized_disconnects == 1);
    assert_eq!(counts.oversized_disconnects, 1, "{counts:?}");
    assert_eq!(counts.frames, 0);
    assert_eq!(ccf.connections(), vec![ConnectionId(0)], "the raw client's stream is gone");
    honest.send(Ccf, vec![4, 2]).unwrap();
    assert_eq!(ccf.recv_timeout(WAIT).unwrap(), Some(Incoming { from: ConnectionId(0), frame: vec![4, 2] }));
    ccf.send(ConnectionId(0), vec![9]).unwrap();
    assert_eq!(honest.recv_timeout(WAIT).unwrap().map(|incoming| incoming.frame), Some(vec![9]));
}

#[test]
fn a_raw_client_sending_a_message_that_is_not_a_frame_is_cut_and_counted() {
    let mut ccf = GrpcCcf::serve("127.0.0.1:0", 4).unwrap();
    let runtime = client_runtime();
    let status = runtime.block_on(async {
        let channel = Endpoint::from_shared(url(&ccf)).unwrap().connect().await.unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let requests = tokio_stream::iter([NotAFrame { number: 5 }]).chain(tokio_stream::pending());
        let path = tonic::codegen::http::uri::PathAndQuery::from_static("/dfma.v1.Ccf/Connect");
        let codec = tonic_prost::ProstCodec::<NotAFrame, Frame>::default();
        let response = grpc.streaming(tonic::Request::new(requests), path, codec).await.unwrap();
        let mut responses = response.into_inner();
        tokio::time::timeout(WAIT, responses.message()).await.expect("the server ends the stream").unwrap_err()
    });
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let counts = wait_for(&ccf, |c| c.malformed_disconnects == 1);
    assert_eq!(counts.malformed_disconnects, 1, "{counts:?}");
    assert_eq!(counts.frames, 0);
    assert_eq!(ccf.recv_timeout(Duration::from_millis(10)).unwrap(), None);
    let mut honest = GrpcInstance::connect(&url(&ccf)).unwrap();
    honest.send(Ccf, vec![7]).unwrap();
    assert_eq!(ccf.recv_timeout(WAIT).unwrap(), Some(Incoming { from: ConnectionId(1), frame: vec![7] }));
}

#[test]
fn an_instance_whose_server_went_away_reads_closed_instead_of_hanging() {
    let ccf = GrpcCcf::serve("127.0.0.1:0", 4).unwrap();
    let mut instance = GrpcInstance::connect(&url(&ccf)).unwrap();
    let started = Instant::now();
    drop(ccf);
    assert!(started.elapsed() < Duration::from_secs(3), "dropping the CCF took {:?}", started.elapsed());
    let started = Instant::now();
    assert_eq!(instance.recv_timeout(WAIT), Err(TransportError::Closed));
    assert!(started.elapsed() < Duration::from_secs(3), "Closed took {:?}", started.elapsed());
}

#[test]
fn connecting_to_a_closed_port_or_a_bad_url_fails_at_once_naming_the_url() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let closed = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let error = GrpcInstance::connect(&closed).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "refusal took {:?}", started.elapsed());
    let message = error.to_string();
    assert!(message.contains(&closed) && !message.contains('\n'), "{message}");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused, "{message}");
    let error = GrpcInstance::connect("not a url").unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("not a url"), "{error}");
    assert_eq!(GrpcCcf::serve("127.0.0.1:0", 0).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn a_ccf_that_does_not_read_stalls_the_sender_and_then_receives_everything_in_order() {
    const FRAMES: usize = 400;
    const FRAME_BYTES: usize = 64 * 1024;
    let frame = |index: usize| {
        let mut rng = ChaCha20Rng::from_seed([index as u8; 32]);
        let mut frame = vec![0u8; FRAME_BYTES];
        rng.fill_bytes(&mut frame);
        frame[..4].copy_from_slice(&(index as u32).to_le_bytes());
        frame
    };
    let mut ccf = GrpcCcf::serve("127.0.0.1:0", 2).unwrap();
    let mut instance = GrpcInstance::connect(&url(&ccf)).unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let sender = {
        let sent = sent.clone();
        thread::spawn(move || {
            for index in 0..FRAMES {
                instance.send(Ccf, frame(index)).unwrap();
                sent.fetch_add(1, Ordering::SeqCst);
            }
            instance
        })
    };
    // Wait until the sender stops making progress: every queue and flow-control window is full.
    let deadline = Instant::now() + WAIT;
    let mut last = usize::MAX;
    while Instant::now() < deadline {
        thread::sleep(Duration::from_millis(300));
        let now = sent.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        last = now;
    }
    let stalled_at = sent.load(Ordering::SeqCst);
    eprintln!("the sender stalled after {stalled_at} of {FRAMES} frames");
    assert!(stalled_at < FRAMES / 2, "{stalled_at} of {FRAMES} frames of 64 KiB sent with nobody reading");
    for index in 0..FRAMES {
        let incoming = ccf.recv_timeout(WAIT).unwrap().expect("a frame within the wait");
        assert_eq!(incoming.from, ConnectionId(0));
        assert!(incoming.frame == frame(index), "frame {index} differs (stalled at {stalled_at})");
    }
    let _instance = sender.join().unwrap();
    assert_eq!(wait_for(&ccf, |c| c.frames == FRAMES as u64).frames, FRAMES as u64);
}

#[test]
fn frames_queued_by_an_instance_dropped_while_the_ccf_is_not_reading_still_arrive() {
    const FRAMES: usize = 20;
    let frames = ragged_frames(40, FRAMES);
    let mut ccf = GrpcCcf::serve("127.0.0.1:0", 2).unwrap();
    let mut instance = GrpcInstance::connect(&url(&ccf)).unwrap();
    let sender = {
        let frames = frames.clone();
        thread::spawn(move || {
            for frame in frames {
                instance.send(Ccf, frame).unwrap();
            }
            let dropping = Instant::now();
            drop(instance);
            dropping.elapsed()
        })
    };
    // Give the sender time to queue everything and drop its end before the CCF reads at all.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !sender.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    for (index, sent) in frames.iter().enumerate() {
        let incoming = ccf.recv_timeout(WAIT).unwrap().unwrap_or_else(|| panic!("frame {index} within the wait"));
        assert!(incoming.frame == *sent, "frame {index} differs");
    }
    let drop_took = sender.join().unwrap();
    assert!(drop_took < CLOSE_GRACE + Duration::from_millis(500), "dropping the instance took {drop_took:?}");
    let counts = wait_for(&ccf, |c| c.clean_closes == 1);
    assert_eq!(counts.clean_closes, 1, "{counts:?}");
    assert_eq!(ccf.recv_timeout(Duration::from_millis(10)).unwrap(), None);
}
