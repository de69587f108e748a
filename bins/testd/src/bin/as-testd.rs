fn main() -> std::process::ExitCode {
    as_cli::main("as-testd", as_testd::run)
}
