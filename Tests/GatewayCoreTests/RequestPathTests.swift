import Testing
@testable import GatewayCore

@Suite struct RequestPathTests {
    @Test(arguments: ["/api", "/api/", "/", "/a/.b/c..d/...", "/api%2", "/%2e%2e%2e", "/x%2", "/x/.%2", "/x%41"])
    func routablePathsPass(path: String) {
        #expect(RequestPath.problem(path[...]) == nil)
    }

    @Test(arguments: [
        ("/api/../admin", #"the request path has a ".." segment"#),
        ("/api/.", #"the request path has a "." segment"#),
        ("/./api", #"the request path has a "." segment"#),
        ("/api/%2e%2E/x", #"the request path has a "%2e%2E" segment"#),
        ("/api/.%2e", #"the request path has a ".%2e" segment"#),
        ("/api%2fadmin", "the request path holds an encoded slash or backslash"),
        ("/api%5C..", "the request path holds an encoded slash or backslash"),
        ("/api/..\\admin", "the request path holds a backslash"),
        ("/api\\", "the request path holds a backslash"),
        ("/api/x%00.json", "the request path holds an encoded NUL (%00)"),
        ("/a b", "the request path holds the byte 0x20; only visible ASCII is allowed"),
        ("/caf\u{e9}", "the request path holds the byte 0xc3; only visible ASCII is allowed"),
    ])
    func eachProblemIsNamed(path: String, problem: String) {
        #expect(RequestPath.problem(path[...]) == problem)
        // A path that arrives as part of a longer string (the query split off) is read the same way.
        let target = path + "?q=1"
        #expect(RequestPath.problem(target[..<target.firstIndex(of: "?")!]) == problem)
    }
}
