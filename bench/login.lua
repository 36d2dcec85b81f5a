-- createSession, as a client logging in sends it.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"api":"admin","action":"createSession","params":{"username":"admin","password":"ADMIN","description":"bench"}}'
