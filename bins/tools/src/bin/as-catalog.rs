fn main() -> std::process::ExitCode {
    as_cli::main("as-catalog", as_tools::catalog::run)
}
