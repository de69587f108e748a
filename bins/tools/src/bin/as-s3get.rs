fn main() -> std::process::ExitCode {
    as_cli::main("as-s3get", as_tools::s3get::run)
}
