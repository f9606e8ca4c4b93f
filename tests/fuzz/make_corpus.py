#!/usr/bin/python3
"""make_corpus.py: write the seed corpora in tests/fuzz/corpus/ (run from anywhere).

The seeds are committed; this script documents how the binary ones were made
and rewrites them all. Each is a small, valid (or deliberately almost valid)
input that takes its target past the first checks.
"""
import base64
import hashlib
import hmac
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def msg(kind, body=b""):
    """A typed protocol message: type byte, int32 length (itself included), body."""
    return kind + struct.pack("!I", len(body) + 4) + body


def cstr(s):
    return s.encode() + b"\0"


def startup(pairs, code=196608):
    body = struct.pack("!I", code) + b"".join(cstr(k) + cstr(v) for k, v in pairs) + b"\0"
    return struct.pack("!I", len(body) + 4) + body


def frame_input(stream, max_len=0x4000, chunk=16):
    """fuzz_frame's layout: 2 bytes max_len - 4, 1 byte chunk - 1, the stream."""
    return struct.pack("!HB", max_len - 4, chunk - 1) + stream


def error_body(severity, code, message):
    return (b"S" + cstr(severity) + b"V" + cstr(severity) + b"C" + cstr(code) +
            b"M" + cstr(message) + b"\0")


def scram_pair(password, salt_b64, iterations, client_nonce, server_nonce, ext=""):
    """A client-first and the matching client-final for fuzz_scram's fixed secret."""
    first_bare = "n=,r=" + client_nonce
    server_first = "r=%s%s,s=%s,i=%d" % (client_nonce, server_nonce, salt_b64, iterations)
    final_bare = "c=biws,r=" + client_nonce + server_nonce + ext
    auth = ",".join([first_bare, server_first, final_bare]).encode()
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt_b64),
                                 iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    signature = hmac.new(stored_key, auth, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    final = final_bare + ",p=" + base64.b64encode(proof).decode()
    return "n,," + first_bare, final, base64.b64encode(stored_key).decode()


def relay_input(requests, replies, chunk=16):
    """fuzz_relay's layout: 1 byte n, n request bytes, 1 byte chunk - 1, the replies.
    Request bytes: 0..8 = P B D E C S Q F H, 9 = sluice's swallowed Parse, 10 = own answer."""
    codes = {"P": 0, "B": 1, "D": 2, "E": 3, "C": 4, "S": 5, "Q": 6, "F": 7, "H": 8,
             "own_parse": 9, "own_answer": 10}
    req = bytes(codes[r] for r in requests)
    return bytes([len(req)]) + req + bytes([chunk - 1]) + replies


def seeds():
    auth_ok = msg(b"R", struct.pack("!I", 0))
    params = msg(b"S", cstr("server_version") + cstr("15.4")) + \
        msg(b"S", cstr("client_encoding") + cstr("UTF8"))
    ready = msg(b"Z", b"I")
    row_desc = msg(b"T", struct.pack("!H", 1) + cstr("?column?") +
                   struct.pack("!IhIhih", 0, 0, 23, 4, -1, 0))
    data_row = msg(b"D", struct.pack("!HI", 1, 1) + b"1")
    yield "frame", "login", frame_input(
        auth_ok + params + msg(b"K", struct.pack("!II", 4242, 12345678)) + ready)
    yield "frame", "select1", frame_input(row_desc + data_row + msg(b"C", cstr("SELECT 1")) + ready)
    yield "frame", "error", frame_input(
        msg(b"E", error_body("ERROR", "42P01", 'relation "t" does not exist')) + msg(b"Z", b"E"))
    yield "frame", "notice_tiny_chunks", frame_input(
        msg(b"N", error_body("NOTICE", "00000", "hello")) + ready, chunk=3)
    yield "frame", "client_extended", frame_input(
        msg(b"P", cstr("s1") + cstr("select $1") + struct.pack("!H", 0)) +
        msg(b"B", cstr("") + cstr("s1") + struct.pack("!HHIB", 0, 1, 1, ord("7")) +
            struct.pack("!H", 0)) +
        msg(b"D", b"P\0") + msg(b"E", cstr("") + struct.pack("!I", 0)) + msg(b"S"))
    yield "frame", "client_query", frame_input(msg(b"Q", cstr("select 1")) + msg(b"X"))
    yield "frame", "streamed_row", frame_input(
        msg(b"D", struct.pack("!HI", 1, 300) + b"x" * 300) + ready, chunk=7)
    yield "frame", "bad_length", frame_input(msg(b"Q", cstr("x"))[:1] + b"\0\0\0\x02")
    complete = msg(b"C", cstr("SELECT 1"))
    yield "relay", "query", relay_input(["Q"], row_desc + data_row + complete + ready)
    yield "relay", "extended", relay_input(
        ["P", "B", "D", "E", "S"], msg(b"1") + msg(b"2") + row_desc + data_row + complete + ready,
        chunk=5)
    yield "relay", "own_parse_and_answer", relay_input(
        ["own_parse", "B", "E", "own_answer", "S"], msg(b"1") + msg(b"2") + complete + ready)
    yield "relay", "error_skips", relay_input(
        ["P", "B", "E", "own_answer", "S"],
        msg(b"E", error_body("ERROR", "42601", "syntax error")) + ready, chunk=3)
    yield "relay", "copy_out", relay_input(
        ["Q"], msg(b"H", b"\0\0\0") + msg(b"d", b"1\n") + msg(b"c") + msg(b"C", cstr("COPY 1")) + ready)
    yield "relay", "fatal", relay_input(
        ["Q"], msg(b"E", error_body("FATAL", "57P01", "terminating")) + ready)
    yield "frame", "startup", frame_input(startup([("user", "app"), ("database", "appdb")]))

    yield "startup", "user_db", startup([("user", "app"), ("database", "appdb"),
                                         ("application_name", "psql")])
    yield "startup", "user_only", startup([("user", "postgres")])
    yield "startup", "options", startup([("user", "u"), ("options", "-c search_path=app"),
                                         ("client_encoding", "UTF8"), ("DateStyle", "ISO")])
    yield "startup", "protocol_3_2", startup([("user", "u"), ("_pq_.foo", "1")], code=196610)
    yield "startup", "ssl_request", struct.pack("!II", 8, 80877103)
    yield "startup", "gssenc_request", struct.pack("!II", 8, 80877104)
    yield "startup", "cancel_request", struct.pack("!IIII", 16, 80877102, 4242, 12345678)

    first, final, stored = scram_pair("correct horse battery staple", "7XjO7XNPJn3KCocOThW3Aw==",
                                      4096, "fyko+d2lbbFgONRv9qkxdawL",
                                      "FUZZserverNONCE012345678")
    assert stored == "pRafyXJtnosqIrZm4NRuXUJN3kacLdgVVA25zXnOZ2E=", stored
    yield "scram", "exchange", (first + "\n" + final).encode()
    yield "scram", "wrong_proof", (first + "\n" + final[:-10] + "AAAAAAAAA=").encode()
    yield "scram", "first_only_y", b"y,,n=,r=rOprNGfwEbeRWgbNEkqO"
    yield "scram", "first_user_ext", b"n,,n=user=2Cname,r=abc,x=ext\nc=biws,r=abc,p=AAAA"
    first, final, _ = scram_pair("correct horse battery staple", "7XjO7XNPJn3KCocOThW3Aw==", 4096,
                                 "abc", "FUZZserverNONCE012345678", ext=",x=1")
    yield "scram", "final_extension", (first + "\n" + final).encode()

    for name, sql in [("show_pools", "SHOW POOLS;"), ("show_help", "show help"),
                      ("pause_db", "PAUSE db"), ("set_pool_size", "SET default_pool_size = 5"),
                      ("set_to_quoted", "SET server_reset_query TO 'DISCARD ALL';"),
                      ("set_doubled_quote", "set application_name = \"a\"\"b\""),
                      ("kill_client", "KILL_CLIENT 12"), ("resume", "RESUME"),
                      ("shutdown", "SHUTDOWN WAIT_FOR_CLIENTS ; "), ("empty", ";")]:
        yield "admin", name, sql.encode()
    # Regression: a query just under ADMIN_MAX_QUERY whose '=' words each add a
    # NUL used to write past struct command's text (stack-buffer-overflow).
    yield "admin", "regress_text_overflow", b"x" * 4087 + b"=x=x=x="

    for name, head in [("metrics", "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"),
                       ("healthz_head", "HEAD /healthz HTTP/1.0\r\n\r\n"),
                       ("readyz_query", "GET /readyz?verbose=1 HTTP/1.1\r\n\r\n"),
                       ("post", "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
                       ("line_only", "GET / HTTP/1.1")]:
        yield "http", name, head.encode()

    yield "config", "minimal", (
        "[databases]\n"
        "appdb = host=127.0.0.1 port=5432 dbname=appdb pool_size=5\n"
        "* = host=/var/run/postgresql\n"
        "\n[sluice]\n"
        "listen_addr = 127.0.0.1\nlisten_port = 6432\n"
        "auth_type = trust\npool_mode = transaction\n").encode()
    yield "config", "full", (
        "; comment\n[databases]\n"
        "reports = host=10.0.0.5 dbname=warehouse user=reporter password='s3cr''t' "
        "pool_mode=session connect_query='SET search_path TO app, public'\n"
        "[users]\nbatch = pool_mode=session pool_size=2\n"
        "[pgbouncer]\nlisten_addr = *\nauth_type = scram-sha-256\nauth_file = /etc/userlist.txt\n"
        "admin_users = admin, ops\nstats_users = stats\nserver_lifetime = 1h\n"
        "query_wait_timeout = 0.5\nignore_startup_parameters = extra_float_digits,options\n"
        "max_client_conn = 1000\nverbose = 2\n").encode()
    yield "config", "bad_value", b"[sluice]\nlisten_port = sixty\n"
    yield "config", "unknown_section", b"[nowhere]\nkey = value\n[databases]\n[sluice]\nunknown_key = 1\n"

    yield "hba", "rules", (
        "# TYPE DATABASE USER ADDRESS METHOD\n"
        "local all all peer map=os\n"
        "host sameuser,\"my db\" alice,bob 10.0.0.0/8 md5\n"
        "hostssl all all ::1/128 cert map=certs\n"
        "hostnossl appdb all 192.168.0.0 255.255.0.0 scram-sha-256\n"
        "host all all \\\n  0.0.0.0/0 reject\n").encode()
    yield "hba", "at_file", b"local all @users.txt trust\nhost replication all all password\n"
    yield "hba", "ident", (
        "# MAP SYSTEM DATABASE\nos root postgres\nos /^(.*)@example\\.com$ \\1\n"
        "m alice all\n").encode()
    yield "hba", "bad_method", b"local all all trust\nhost all all 1.2.3.4/33 ldap\n"

    # fingerprint: SQL texts; a byte 0x01 is a slot the target fills with numbers
    for name, url in [("full", "postgresql://app:s%40cret@db.example.com:6543/appdb?sslmode=require"),
                      ("ipv6", "postgres://u@[::1]:5433/x?connect_timeout=5"),
                      ("params", "postgresql:///db?host=%2Ftmp&port=5444&user=me&sslrootcert=/ca.pem"),
                      ("empty", "postgresql://"),
                      ("bad_escape", "postgresql://u:p%zz@h/db"),
                      ("two_hosts", "postgresql://u@a,b/db")]:
        yield "dburl", name, url.encode()
    yield "fingerprint", "select", b"SELECT * FROM t WHERE id = 42 AND name = 'x'"
    yield "fingerprint", "slots", b"SELECT a - \x01, f(-\x01) FROM t WHERE b IN (\x01, \x01) LIMIT \x01"
    yield "fingerprint", "literals", (
        b"SELECT -1.5e-3, .5, 0x1F, 1_000, 'it''s', E'a\\'b', B'101', X'ff', "
        b"U&'d\\0061t', N'n', TRUE, false, NULL, $1, interval '1 day', '1'::int")
    yield "fingerprint", "dollar", b"CREATE FUNCTION f() RETURNS int AS $fn$ SELECT $$;$$ $fn$ LANGUAGE sql"
    yield "fingerprint", "comments", b"SELECT /* a /* nested */ b */ 1 -- tail\n+ 2; ; SELECT 2*/*x*/3"
    yield "fingerprint", "lists", (
        b"INSERT INTO t (a, b) VALUES (1, 'a'), (-2, NULL), ($3, $4) RETURNING a; "
        b"SELECT * FROM t WHERE x = ANY(ARRAY[1,2,3]) AND y NOT IN ('a'::text, 'b'::text)")
    yield "fingerprint", "identifiers", (
        "SELECT \"Col\", \"1\", t1.c2, null_count, U&\"d\\0061t\", café, a$b$c, "
        "x IS NOT NULL, y IS TRUE FROM \"Users\"").encode()
    yield "fingerprint", "unterminated", b"SELECT 'open; SELECT E'\\"
    # found by the fuzzer: NULL as a type name was a constant outside a list, a type inside one
    yield "fingerprint", "cast_to_null", b"SELECT 1 WHERE y NOT IN ('a':: NULL), ($:text)"
    yield "fingerprint", "unterminated_dollar", b"SELECT $tag$ never closed $tag /* and"
    # a text, 0x02, and the digits that take the place of its first number (fingerprint_alike)
    yield "fingerprint", "alike", b"SELECT abalance FROM pgbench_accounts WHERE aid = 41;\x0298765"
    yield "fingerprint", "alike_string", b"SELECT 'id 10' FROM t WHERE x = 1.5\x027"
    # (and fingerprint_again: the tail after the number as long as a word, and the number first)
    yield "fingerprint", "again_tail", b"SELECT a FROM t WHERE b = 10 LIMIT 7\x023"
    yield "fingerprint", "number_first", b"935\x0244"


def main():
    for target, name, data in seeds():
        d = os.path.join(HERE, "corpus", target)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
