import Glibc

// Built with -DFUZZING and -sanitize=fuzzer (scripts/fuzz), main hands over to libFuzzer's driver,
// which calls the entry point below; FUZZ_TARGET names the target. Built normally, this replays
// files: gateway-fuzz TARGET FILE...
#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                                 _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                                 _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@main
struct FuzzDriver {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
    }
}

private let chosenTarget: String = {
    guard let name = getenv("FUZZ_TARGET") else { fatalError("set FUZZ_TARGET to one of \(FuzzTargets.names)") }
    return String(cString: name)
}()

private func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTargets.run(chosenTarget, size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
@main
struct CorpusReplay {
    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count >= 3 else {
            print("usage: gateway-fuzz TARGET FILE...   (targets: \(FuzzTargets.names.joined(separator: ", ")))")
            exit(2)
        }
        for path in arguments[2...] {
            guard let file = fopen(path, "rb") else { print("cannot open \(path)"); exit(2) }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = fread(&buffer, 1, buffer.count, file)
                if n <= 0 { break }
                bytes += buffer[0..<n]
            }
            fclose(file)
            FuzzTargets.run(arguments[1], bytes)
        }
        print("gateway-fuzz: \(arguments.count - 2) inputs of \(arguments[1]) replayed")
    }
}
#endif
