"""A MariaDB client for the kernel tests (python3-pymysql, run with
/usr/bin/python3), over the server's Unix socket:

  pymysql_client.py SOCKET SELECTS INSERTS UPDATES DELETES FAILING [tag=NAME]

SOCKET is the server's socket path, or HOST:PORT for TCP (user redeye,
password redeye). One connection (autocommit on, so pymysql sends no statement of its own),
then that many statements of each kind on shop.items, FAILING selects of a
missing table (error 1146), then a normal close. Prints what it did as JSON.
A trailing tag=NAME only names the process for the agent's service rules."""
import json
import sys

import pymysql

args = [a for a in sys.argv[1:] if not a.startswith("tag=")]
sock = args[0]
selects, inserts, updates, deletes, failing = map(int, args[1:6])
if sock.startswith("/"):
    conn = pymysql.connect(unix_socket=sock, user="root", database="shop", autocommit=True)
else:
    host, port = sock.rsplit(":", 1)
    conn = pymysql.connect(host=host, port=int(port), user="redeye", password="redeye", database="shop",
                           autocommit=True)
done = {"select": 0, "insert": 0, "update": 0, "delete": 0, "errors": 0}
with conn.cursor() as c:
    for i in range(inserts):
        c.execute("INSERT INTO items (name) VALUES (%s)", (f"item{i}",))
        done["insert"] += 1
    for i in range(selects):
        c.execute("SELECT id, name FROM items WHERE id > %s", (i,))
        c.fetchall()
        done["select"] += 1
    for i in range(updates):
        c.execute("UPDATE items SET name = %s WHERE id = %s", (f"renamed{i}", i + 1))
        done["update"] += 1
    for i in range(deletes):
        c.execute("DELETE FROM items WHERE id = %s", (1000000 + i,))
        done["delete"] += 1
    for _ in range(failing):
        try:
            c.execute("SELECT * FROM no_such_table")
        except pymysql.err.ProgrammingError as e:
            if e.args[0] != 1146:
                raise
            done["errors"] += 1
conn.close()
print(json.dumps(done))
