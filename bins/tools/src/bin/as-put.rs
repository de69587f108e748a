fn main() -> std::process::ExitCode {
    as_cli::main("as-put", as_tools::put::run)
}
