fn main() -> std::process::ExitCode {
    as_cli::main("as-split", as_tools::split::run)
}
