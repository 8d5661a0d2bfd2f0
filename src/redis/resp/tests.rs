use super::*;

fn read(bytes: &[u8], budget: u64) -> Result<Value, RespError> {
    let mut reader = bytes;
    let mut budget = Budget::new(budget);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(read_value(&mut reader, &mut budget))
}

#[test]
fn replies_of_every_type() {
    let v = read(
        b"*6\r\n+OK\r\n-ERR no\r\n:-7\r\n$3\r\na\xffb\r\n$-1\r\n*1\r\n*0\r\n",
        4096,
    )
    .unwrap();
    assert_eq!(
        v,
        Value::Array(vec![
            Value::Simple("OK".into()),
            Value::Error("ERR no".into()),
            Value::Int(-7),
            Value::Bulk(b"a\xffb".to_vec()),
            Value::Nil,
            Value::Array(vec![Value::Array(vec![])]),
        ])
    );
    assert!(v.size() <= 4096);
    assert_eq!(into_text(b"a\xffb\xe2\x82".to_vec()), "a?b??");
}

#[test]
fn declared_sizes_past_the_budget_fail_unread() {
    // Nothing follows the headers: a read would fail as a broken stream, not as too large.
    assert!(matches!(
        read(b"$1099511627776\r\n", 1 << 20),
        Err(RespError::TooLarge(_))
    ));
    assert!(matches!(
        read(b"*1099511627776\r\n", 1 << 20),
        Err(RespError::TooLarge(_))
    ));
    assert!(matches!(
        read(b"*9223372036854775807\r\n", u64::MAX),
        Err(RespError::TooLarge(_)) | Err(RespError::Protocol(_))
    ));
}

#[test]
fn the_budget_is_shared_by_the_replies_of_a_connection() {
    let mut budget = Budget::new(SLOT * 2 + 10);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut reader: &[u8] = b"$6\r\nabcdef\r\n$6\r\nabcdef\r\n";
    assert!(rt.block_on(read_value(&mut reader, &mut budget)).is_ok());
    assert!(matches!(
        rt.block_on(read_value(&mut reader, &mut budget)),
        Err(RespError::TooLarge(_))
    ));
}

#[test]
fn malformed_replies_are_protocol_errors() {
    let deep = "*1\r\n".repeat(MAX_DEPTH + 1) + ":1\r\n";
    let long = format!("+{}\r\n", "x".repeat(MAX_LINE + 1));
    for bad in [
        deep.as_bytes(),
        long.as_bytes(),
        b"?x\r\n",
        b"$-2\r\n",
        b":1x\r\n",
        b"+OK\n",
        b"$1\r\nab\r\n",
        b"\r\n",
    ] {
        assert!(
            matches!(read(bad, 1 << 20), Err(RespError::Protocol(_))),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    assert!(matches!(read(b"$5\r\nab", 1 << 20), Err(RespError::Io(_))));
}

#[test]
fn commands_are_arrays_of_bulk_strings() {
    assert_eq!(
        encode_command(&[b"CONFIG", b"GET", b"timeout"]),
        b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$7\r\ntimeout\r\n"
    );
}
