fn main() -> std::process::ExitCode {
    as_cli::main("as-get", as_tools::get::run)
}
