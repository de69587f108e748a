fn main() -> std::process::ExitCode {
    as_tools::main("as-testd", as_tools::testd::run)
}
