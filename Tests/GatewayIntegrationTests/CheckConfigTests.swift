import Foundation
import GatewayTestSupport
import Glibc
import Testing

@Suite struct CheckConfigTests {
    @Test func badConfigurationExitsNonZeroNamingEveryProblem() throws {
        let (status, output) = try Servers.checkConfig(#"{"listeners":[{"name":"a","port":8080,"colour":1}],"upstreams":[{"name":"u","url":"htp://x"}]}"#)
        #expect(status == 1)
        #expect(output.contains(#"upstreams[0].url: "htp://x" is not an http or https URL"#))
        #expect(output.contains("listeners[0].colour: unknown key"))
    }

    @Test func goodConfigurationPasses() throws {
        let (status, output) = try Servers.checkConfig(#"{"listeners":[{"name":"a","port":0}],"upstreams":[{"name":"u","url":"http://127.0.0.1:18080/api"}]}"#)
        #expect(status == 0, "\(output)")
    }

    static func checkConfigFile(_ path: String) throws -> Command.Result {
        try Command.run(ServerProcess.binary("gateway"), ["check-config", path], timeout: 10)
    }

    @Test func aDeviceOrAFIFOIsRefusedAtOnceNotReadForever() throws {
        let zero = try Self.checkConfigFile("/dev/zero")
        #expect(zero.status == 1 && zero.stderr.contains("not a regular file (a character device)"), "\(zero.output)")
        let fifo = try Servers.temporaryDirectory() + "/fifo.json"
        #expect(mkfifo(fifo, 0o600) == 0)
        let started = Date()
        let blocked = try Self.checkConfigFile(fifo)
        #expect(blocked.status == 1 && blocked.stderr.contains("not a regular file (a FIFO)"), "\(blocked.output)")
        #expect(Date().timeIntervalSince(started) < 5, "check-config waited on a FIFO")
        let big = try Servers.temporaryDirectory() + "/big.json"
        #expect(FileManager.default.createFile(atPath: big, contents: Data(count: 5 << 20)))
        let tooBig = try Self.checkConfigFile(big)
        #expect(tooBig.status == 1 && tooBig.stderr.contains("more than the 4194304 bytes"), "\(tooBig.output)")
    }

    @Test func aDataFolderThatCannotBeCreatedIsReportedEvenToRoot() throws {
        let (status, output) = try Servers.checkConfig(#"{"listeners":[{"name":"a","port":0}],"upstreams":[{"name":"u","url":"http://127.0.0.1:1/api"}],"sessions":{"dataDirectory":"/proc/gateway-data"}}"#)
        #expect(status == 1)
        #expect(output.contains("the data folder /proc/gateway-data does not exist and cannot be created in /proc"), "\(output)")
    }

    @Test func whatAStartWouldRefuseIsReported() throws {
        let stub = try Servers.stub()
        let notAFolder = try Servers.temporaryDirectory() + "/file"
        #expect(FileManager.default.createFile(atPath: notAFolder, contents: Data()))
        let (status, output) = try Servers.checkConfig("""
            {"listeners":[{"name":"taken","port":\(stub.port)},
                          {"name":"tls","port":0,"tls":{"certificateFilename":"/dev/zero","privateKeyFilename":"/dev/zero"}}],
             "upstreams":[{"name":"u","url":"http://127.0.0.1:\(stub.port)/api"}],
             "sessions":{"dataDirectory":"\(notAFolder)/data"}}
            """)
        #expect(status == 1)
        #expect(output.contains("listeners[0] 'taken': 127.0.0.1:\(stub.port) cannot be bound: Address already in use"), "\(output)")
        #expect(output.contains("certificateFilename \"/dev/zero\": not a regular file (a character device)"), "\(output)")
        #expect(output.contains("sessions.dataDirectory: the data folder \(notAFolder)/data cannot be created: \(notAFolder) is not a directory"), "\(output)")
    }

    @Test func aBadConfigurationNeverStartsAGateway() throws {
        #expect(throws: (any Error).self) {
            _ = try Servers.gateway(upstreamPorts: [1]) { config in config["limits"] = ["maxBodyBytes": "big"] }
        }
    }
}
