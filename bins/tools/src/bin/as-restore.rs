fn main() -> std::process::ExitCode {
    as_cli::main("as-restore", as_tools::restore::run)
}
