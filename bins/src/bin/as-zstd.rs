fn main() -> std::process::ExitCode {
    as_tools::main("as-zstd", as_tools::zstd::run)
}
