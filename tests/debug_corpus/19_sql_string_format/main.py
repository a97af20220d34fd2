import sqlite3


def find_user(conn: sqlite3.Connection, name: str) -> list:
    query = f"SELECT id, name FROM users WHERE name = '{name}'"
    return conn.execute(query).fetchall()


conn = sqlite3.connect(":memory:")
conn.execute("CREATE TABLE users (id INTEGER, name TEXT)")
conn.execute("INSERT INTO users VALUES (1, 'O''Brien')")
print(find_user(conn, "O'Brien"))
