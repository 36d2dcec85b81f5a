#!/usr/bin/env python3
"""End-to-end check with FairCom's own Python client (PyPI faircom-json-action-client):
log in through the gateway, run a db action, check the session the gateway reports, log out.
Usage: faircom_client_e2e.py http://127.0.0.1:PORT/api   (prints one JSON line; exit 0 on success)"""
import json
import sys

from json_action_client import JsonActionClient


def main(endpoint):
    client = JsonActionClient(endpoint, description="e2e", session_idle_timeout=30)
    client.login("admin", "ADMIN")
    token = client.auth_token
    report = {"tokenLength": len(token or "")}
    with client:
        databases = client.post_json({"api": "db", "action": "listDatabases", "params": {}, "authToken": client.auth_token})
        report["databases"] = [row["databaseName"] for row in databases["result"]["data"]]
        report["echoedToken"] = databases.get("authToken") == token
        described = client.post_json({"api": "admin", "action": "describeSessions", "authToken": client.auth_token})
        report["description"] = described["result"]["sessions"][0]["description"]
        report["idleConnectionTimeoutSeconds"] = described["result"]["sessions"][0]["idleConnectionTimeoutSeconds"]
    report["loggedOut"] = client.auth_token is None
    try:
        client.post_json({"api": "db", "action": "listDatabases", "authToken": token})
        report["afterLogout"] = 0
    except Exception as error:  # the client raises JsonActionApiError for a non-zero errorCode
        report["afterLogout"] = getattr(error, "error_code", str(error))
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
