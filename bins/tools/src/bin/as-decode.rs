fn main() -> std::process::ExitCode {
    as_cli::main("as-decode", as_tools::decode::run)
}
