fn main() -> std::process::ExitCode {
    as_cli::main("as-zstd", as_tools::zstd::run)
}
