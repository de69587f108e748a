fn main() -> std::process::ExitCode {
    as_cli::main("as-scan", as_tools::scan::run)
}
