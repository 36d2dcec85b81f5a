#!/usr/bin/env python3
"""End-to-end check with FairCom's SQLAlchemy dialect (PyPI sqlalchemy-faircom) through the gateway.

usage: sqlalchemy_e2e.py HOST PORT CYCLES

Each cycle opens a new connection (NullPool: a createSession each time), runs a SELECT and an
INSERT, and closes it (the dialect sends closeSession). Exits 1 on the first failure.
"""
import contextlib
import io
import sys

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool


def main() -> int:
    host, port, cycles = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    engine = create_engine(f"faircom://admin:ADMIN@{host}:{port}/faircom", poolclass=NullPool)
    selected = inserted = 0
    for cycle in range(cycles):
        # The dialect prints every statement to stderr; keep the test's output readable.
        with contextlib.redirect_stderr(io.StringIO()):
            try:
                with engine.connect() as connection:
                    rows = connection.execute(text("SELECT * FROM athlete")).fetchall()
                    connection.execute(text("INSERT INTO athlete (name) VALUES ('e2e')"))
            except Exception as error:  # report which cycle failed and why
                print(f"cycle {cycle + 1} failed: {type(error).__name__}: {error}")
                return 1
        selected += len(rows)
        inserted += 1
    print(f"{cycles} cycles of connect / SELECT / INSERT / close: {selected} rows read, {inserted} inserts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
