fn main() -> std::process::ExitCode {
    as_tools::main("as-decode", as_tools::decode::run)
}
