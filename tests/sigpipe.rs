//! A process of its own (SIGPIPE's disposition is process-wide): a write to a socket whose
//! peer went away fails inside the engine's runtime instead of killing the process.

#![cfg(unix)]

#[test]
fn a_write_to_a_closed_socket_is_an_error_not_a_signal() {
    // The CLI's setting: SIGPIPE ends the process. Inside the runtime it must not (a
    // mutation check: without the guards this test process dies of SIGPIPE).
    // SAFETY: sets a signal's disposition in this test process.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let b = heavytune::engine::Blocking::new(Some(1)).unwrap();
    let kind = b
        .run(async {
            use tokio::io::AsyncWriteExt;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
            drop(listener.accept().await.unwrap());
            let chunk = vec![0u8; 1 << 16];
            // Vectored writes, as HTTP/2 makes them: writev has no MSG_NOSIGNAL (plain
            // writes of std's sockets do), so it raises SIGPIPE when the peer is gone.
            for _ in 0..1000 {
                if let Err(e) = client.write_vectored(&[std::io::IoSlice::new(&chunk)]).await {
                    return Ok(Some(e.kind()));
                }
            }
            Ok(None)
        })
        .unwrap();
    // SAFETY: as above.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    assert!(matches!(kind, Some(std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset)), "{kind:?}");
}
