-- A ~300-byte JSON Action request, as a client of the gateway sends it.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN") or "none"
wrk.body = '{"api":"db","action":"getRecordsUsingSQL","apiVersion":"1.0","requestId":"bench-0001",' ..
  '"params":{"databaseName":"ctreeSQL","sql":"SELECT id, name, ranking, earnings FROM athlete WHERE earnings > 1000000",' ..
  '"returnCursor":false},"responseOptions":{"dataFormat":"objects","numberFormat":"number"},' ..
  '"authToken":"' .. token .. '"}'
